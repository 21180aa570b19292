#!/usr/bin/env bash
# Example on-call runbook: get read-only access to a customer's ClickHouse, diagnose merges, hand access back.
# Everything it decides on is byoc's --json output and exit codes:
#   0 ok · 2 usage · 3 configuration · 4 refused (auth, certificate, access, read-only policy)
#   5 remote failure · 6 network path · 8 pending approval
# Requires: byoc, jq. Configuration (service, broker URL, proxy) comes from byoc.config.yaml or BYOC_* variables;
# with a served broker, BYOC_TOKEN holds your token.
set -uo pipefail

SERVICE=${1:?usage: runbook-example.sh SERVICE INCIDENT}
INCIDENT=${2:?usage: runbook-example.sh SERVICE INCIDENT}

die() { echo "runbook: $*" >&2; exit 1; }

# 1. Reuse a certificate with at least 15 minutes left, or ask for access.
if ! byoc cert show "$SERVICE" --min-remaining 15m --json >/dev/null 2>&1; then
  request=$(byoc access request "$SERVICE" --reason "runbook: merges stuck ($INCIDENT)" --ticket "$INCIDENT" --duration 1h --no-wait --json)
  case $? in
    0) ;;                                   # approved at once (auto-approval policies)
    8) id=$(jq -r .id <<<"$request")        # pending: wait up to 15 minutes for an approver
       byoc access wait "$id" --timeout 15m --json >/dev/null
       case $? in
         0) ;;
         8) die "no approver decided on $id within 15 minutes; page the approvers" ;;
         *) die "access $id was denied or lapsed: $(byoc access show "$id" --json | jq -r .status)" ;;
       esac ;;
    4) die "access refused: check the duration against the policy" ;;
    *) die "could not request access (exit $?)" ;;
  esac
  byoc cert get "$SERVICE" --json >/dev/null || die "no certificate for $SERVICE"
fi

# 2. The path: direct is best; a DERP relay works but is slow for large results.
byoc connect check "$SERVICE" --target clickhouse --json > path.json
case $? in
  0) [ "$(jq -r .verdict path.json)" = relayed ] && echo "note: relayed via DERP: $(jq -r '.targets[0].advice[0]' path.json)" >&2 ;;
  5) die "tailscale failed while checking $SERVICE: $(jq -r '.targets[0].detail // .tailscale.message' path.json)" ;;
  6) die "no path to $SERVICE: $(jq -r '.targets[0].advice[0] // .tailscale.nextStep' path.json)" ;;
  *) die "path check failed" ;;
esac

# 3. Diagnose: merges, mutations and the replication queue, as NDJSON for the incident ticket.
for preset in merges mutations replication-queue; do
  byoc query "$SERVICE" --preset "$preset" --format ndjson > "$INCIDENT-$preset.ndjson" || die "query $preset failed (exit $?)"
done
echo "saved: $INCIDENT-*.ndjson" >&2

# 4. Hand the access back early: revoke the request behind the certificate.
id=$(byoc cert show "$SERVICE" --json | jq -r .requestId)
byoc access revoke "$id" --comment "runbook done ($INCIDENT)" --json >/dev/null || echo "warning: could not revoke $id" >&2
