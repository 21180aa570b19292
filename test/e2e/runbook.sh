#!/usr/bin/env bash
# The troubleshooting flow the way an on-call runbook scripts it: only --json output and exit codes
# (0 ok, 4 refused, 6 network path, 8 pending), against the local sandbox. Every step is asserted.
# Run by test/e2e/runbook.test.ts; BYOC names the CLI, BYOC_STATE_DIR an empty state folder.
set -uo pipefail
BYOC=${BYOC:-byoc}
step() { echo "--- $*" >&2; }
fail() { echo "runbook: FAILED: $*" >&2; exit 1; }
# run EXPECTED_EXIT cmd...: runs it, stdout into $out, and checks the exit code.
run() {
  local expected=$1; shift
  out=$("$@"); local code=$?
  [ "$code" -eq "$expected" ] || fail "$* exited $code, expected $expected"
}
as() { local who=$1; shift; BYOC_USER=$who $BYOC "$@"; }

step "sandbox up"
run 0 $BYOC sandbox up --json
trap '$BYOC sandbox down >/dev/null 2>&1' EXIT
engineer=$(jq -er .requester <<<"$out") || fail "no requester"
approver=$(jq -er .approver <<<"$out") || fail "no approver"
[ "$(jq -r .service <<<"$out")" = sandbox ] || fail "service is not sandbox"

step "request access: pending is exit 8"
run 8 as "$engineer" access request sandbox --reason "replication lag on shard 2" --ticket INC-77 --duration 30m --no-wait --json
id=$(jq -er .id <<<"$out") || fail "no request id"
[ "$(jq -r .status <<<"$out")" = pending ] || fail "request not pending"

step "a query before approval is refused (4) with the next step"
run 4 as "$engineer" query sandbox "SELECT 1 FROM system.one" --json
step "self-approval is refused (4)"
run 4 as "$engineer" access approve "$id" --json

step "the approver approves"
run 0 as "$approver" access approve "$id" --comment "go" --json
[ "$(jq -r .status <<<"$out")" = approved ] || fail "not approved"
run 0 as "$engineer" access wait "$id" --timeout 10s --json

step "certificate, and the runbook guard on remaining time"
run 0 as "$engineer" cert get sandbox --json
[ "$(jq -r .requestId <<<"$out")" = "$id" ] || fail "certificate for the wrong request"
run 0 as "$engineer" cert show sandbox --min-remaining 15m --json
run 4 as "$engineer" cert show sandbox --min-remaining 2h --json

step "path check: tailscale-down without Tailscale is exit 6, and TLS to the endpoint is checked"
if command -v tailscale >/dev/null 2>&1; then expected=0; else expected=6; fi
run "$expected" as "$engineer" connect check sandbox --count 1 --timeout 2s --json
jq -e '.targets[0].tls.ok == true' <<<"$out" >/dev/null || fail "TLS to the sandbox endpoint did not pass"

step "read-only queries"
run 0 as "$engineer" query sandbox "SELECT name FROM system.databases ORDER BY name" --json
jq -e '.rows | map(.name) | index("system") != null' <<<"$out" >/dev/null || fail "system database not listed"
run 0 as "$engineer" query sandbox --preset merges --json
run 4 as "$engineer" query sandbox "SELECT * FROM default.orders" --json
run 4 $BYOC query --check "INSERT INTO default.orders VALUES (1)" --json
[ "$(jq -r .allowed <<<"$out")" = false ] || fail "the guard allowed an INSERT"

step "the customer's audit attributes the queries to the request"
run 0 $BYOC audit query-log sandbox --flush --since 1h --json
jq -e --arg id "$id" '.requests | map(select(.requestId == $id)) | .[0].queries >= 2' <<<"$out" >/dev/null || fail "audit misses the engineer's queries"

step "revoke: the next query is refused (4)"
run 0 as "$approver" access revoke "$id" --json
run 4 as "$engineer" query sandbox "SELECT 1 FROM system.one" --json

step "sandbox down"
run 0 $BYOC sandbox down --json
trap - EXIT
echo "runbook: all steps passed" >&2
