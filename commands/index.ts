/**
 * The explicit manifest of every command. A file's path under commands/ is its command
 * (`config/show.ts` is `byoc config show`); test/unit/manifest.test.ts checks this list against the files.
 * Each command's description lives here and only here, so help lists every command without loading any.
 * Command modules stay light: heavy libraries are imported inside `run` and `view`.
 */
import type { AnyCommand } from '../src/command.js';
import { builtSettings, catalogFor } from '../src/options.js';
export interface ManifestEntry {
  /** path under commands/ without the extension */
  file: string;
  /** the command's description: the one copy (help, completion) */
  description: string;
  hidden: boolean;
  /** the command's module, imported only when it runs (or its help is asked for) */
  load: () => Promise<AnyCommand>;
}

/** What main runs: the manifest and the descriptions of the groups (a test passes its own). */
export interface CommandTree {
  manifest: readonly ManifestEntry[];
  groups: Record<string, string>;
}

const entry = (file: string, description: string, load: () => Promise<{ default: AnyCommand }>, options: { hidden?: boolean } = {}): ManifestEntry => ({
  file,
  description,
  hidden: options.hidden ?? false,
  load: () => load().then((module) => module.default),
});

export const groups: Record<string, string> = {
  access: 'Request, review and revoke time-bound access',
  audit: "Customers: audit what engineers did in your ClickHouse and Prometheus",
  broker: 'Run the access broker for a team',
  'broker token': 'Manage bearer tokens of the served broker',
  cert: 'Short-lived client certificates',
  config: 'Show and check the configuration',
  connect: 'Reach customer endpoints over the tailnet',
  help: 'Help topics',
  k8s: 'Kubernetes diagnostics over the tailnet',
  proxy: 'Local endpoints for other tools, guarded like byoc query',
  metrics: "Read-only Prometheus queries over the tailnet with the grant's certificate",
  sandbox: 'A local customer deployment on loopback (ClickHouse behind mutual-TLS nginx) for the demo and the tests',
};

export const manifest: readonly ManifestEntry[] = [
  entry('access/request', "Ask for time-bound access to a customer service; designated approvers decide", () => import('./access/request.js')),
  entry('access/list', "List access requests (newest first)", () => import('./access/list.js')),
  entry('access/show', "Show one access request with its reviews", () => import('./access/show.js')),
  entry('access/approve', "Approve an access request (designated approvers only; never your own)", () => import('./access/approve.js')),
  entry('access/deny', "Deny an access request, with a reason (final)", () => import('./access/deny.js')),
  entry('access/revoke', "Revoke an access request before it expires (its requester or an approver)", () => import('./access/revoke.js')),
  entry('access/wait', "Wait for a decision on an access request (exit 0 approved, 4 denied or lapsed, 8 still pending)", () => import('./access/wait.js')),
  entry('access/operator-config', "The customer's ClickHouse step for a request: its own read-only user, or its removal once revoked or expired", () => import('./access/operator-config.js')),
  entry('cert/get', "Retrieve a short-lived client certificate for an approved request (the key never leaves this machine); reuses yours while more than a third of its grant is left", () => import('./cert/get.js')),
  entry('cert/show', "Show your stored certificate for a service and ask the broker whether its request is still approved; exit 4 when revoked, expired or below --min-remaining", () => import('./cert/show.js')),
  entry('cert/list', "List your stored certificates (the current identity's only)", () => import('./cert/list.js')),
  entry('cert/env', "Print what curl, clickhouse-client or a script needs to reach a service with your certificate: shell exports, curl flags, a clickhouse-client config (0600 with --out), or JSON", () => import('./cert/env.js')),
  entry('cert/rm', "Delete your stored key and certificate for a service", () => import('./cert/rm.js')),
  entry('broker/serve', "Serve the access broker over HTTP(S) for a team (same config and state folder as the embedded one)", () => import('./broker/serve.js')),
  entry('broker/trust', "Trust a served broker's certificate (a private CA's or self-signed) after checking its SHA-256 fingerprint; stored for that broker URL only", () => import('./broker/trust.js')),
  entry('broker/migrate', "Apply the PostgreSQL broker store's schema migrations; with --from, copy a JSONL broker store (event log verbatim, chain and count verified, and the CA) into it", () => import('./broker/migrate.js')),
  entry('broker/crl', "Print the broker's certificate revocation list (PEM), or write it to a file for a server's ssl_crl", () => import('./broker/crl.js')),
  entry('broker/verify', "Check the broker's event log is the one byoc appended: walks its hash chain, exit 4 naming the first changed, removed or reordered event; prints the event count and the head hash", () => import('./broker/verify.js')),
  entry('broker/token/create', "Create a bearer token for a user of the served broker (printed once; only its hash is stored), optionally expiring and carrying groups", () => import('./broker/token/create.js')),
  entry('broker/token/list', "List the broker's bearer tokens: id, user, groups, created, last used, expiry and state (never the secret)", () => import('./broker/token/list.js')),
  entry('broker/token/revoke', "Revoke a bearer token by its id: the broker refuses it from then on", () => import('./broker/token/revoke.js')),
  entry('connect/check', "Which Tailscale path reaches the service (direct or DERP relay) and why; DNS, TCP and TLS per endpoint", () => import('./connect/check.js')),
  entry('connect/k8s', "Add a context for the service to your kubeconfig (kubectl then gets fresh credentials from byoc), and verify it", () => import('./connect/k8s.js')),
  entry('kube-credential', "kubectl's exec credential plugin: prints an ExecCredential with your current certificate for the service", () => import('./kube-credential.js'), { hidden: true }),
  entry('k8s/diagnose', "Diagnose volume attach/mount failures, node network problems and cluster health: PASS / WARN / FAIL / SKIPPED per check, with hints", () => import('./k8s/diagnose.js')),
  entry('query', "Run a read-only query on the system tables of a customer ClickHouse, over the tailnet, with your certificate", () => import('./query.js')),
  entry('proxy/clickhouse', "Serve a local ClickHouse HTTP endpoint on 127.0.0.1 for curl, clickhouse clients and dashboards: every statement passes the read-only guard and goes to the service with your certificate and byoc's tags, until the grant ends", () => import('./proxy/clickhouse.js')),
  entry('query/presets', "List the curated diagnostic queries (each passes the read-only guard)", () => import('./query/presets.js')),
  entry('metrics/query', "Evaluate PromQL at one time on the customer's Prometheus (read-only API, the grant's certificate, tagged with its request)", () => import('./metrics/query.js')),
  entry('metrics/range', "PromQL over a time range (at most the grant's window): a sparkline per series on a TTY, rows piped", () => import('./metrics/range.js')),
  entry('metrics/series', "List the series that match selectors within the grant's window", () => import('./metrics/series.js')),
  entry('metrics/labels', "List label names, or one label's values (__name__: metric names)", () => import('./metrics/labels.js')),
  entry('metrics/presets', "List the curated ClickHouse health views for byoc metrics range --preset, each explained in a line", () => import('./metrics/presets.js')),
  entry('audit/metrics', "Audit metrics calls through your proxy (its JSON log: per request and engineer, calls, endpoints, refusals), the sandbox's by default", () => import('./audit/metrics.js')),
  entry('audit/query-log', "Audit what vendor engineers did in your ClickHouse (system.query_log), per request and engineer, with findings", () => import('./audit/query-log.js')),
  entry('audit/keygen', "Create the Ed25519 key that signs your audit evidence packs (private key 0600, kept here); prints the public key to publish", () => import('./audit/keygen.js')),
  entry('audit/report', "Write a signed evidence pack of what engineers did: events, findings, summary, report.html, a manifest of SHA-256 hashes and its Ed25519 signature", () => import('./audit/report.js')),
  entry('audit/verify', "Check an evidence pack: every file's SHA-256 and the manifest's Ed25519 signature; exit 4 naming the changed, missing or added file or the bad signature", () => import('./audit/verify.js')),
  entry('services', "List the configured and sandbox services with their endpoints, and whether you hold a grant for each", () => import('./services.js')),
  entry('status', "Where you stand: identity and how it was established, the broker (reachable?), your grants and certificates with time left; exit 4 when not signed in to a served broker", () => import('./status.js')),
  entry('whoami', "Same as byoc status: identity, broker, grants and certificates", () => import('./whoami.js')),
  entry('doctor', "Check the whole chain in one go: configuration, broker, request, certificate, Tailscale path, DNS, TCP, TLS, ClickHouse, Kubernetes API, Prometheus", () => import('./doctor.js')),
  entry('login', "Sign in to the served broker with your company's identity provider (OpenID Connect: browser, or --device)", () => import('./login.js')),
  entry('logout', "Sign out: remove this machine's session (revoking its refresh token) and your keys and certificates", () => import('./logout.js')),
  entry('completion', "Print a shell completion script", () => import('./completion.js')),
  entry('completion-candidates', "What the shell completion scripts offer at the cursor, one candidate a line (the scripts call this on TAB)", () => import('./completion-candidates.js'), { hidden: true }),
  entry('config/show', "Show the effective configuration and where each value comes from (flag, env, file, default)", () => import('./config/show.js')),
  entry('config/validate', "Check a configuration file against the schema (exit 3 naming every bad key)", () => import('./config/validate.js')),
  entry('help/exit-codes', "What each exit code means, for runbooks", () => import('./help/exit-codes.js')),
  entry('sandbox/up', "Start a local customer deployment on loopback: ClickHouse behind nginx doing mutual TLS with the broker CA", () => import('./sandbox/up.js')),
  entry('sandbox/status', "Whether the sandbox runs: ClickHouse and nginx processes, ports, health, approved grants, files", () => import('./sandbox/status.js')),
  entry('sandbox/down', "Stop the sandbox (nothing keeps running); its data stays for the next up unless --purge", () => import('./sandbox/down.js')),
];

export const COMMANDS: CommandTree = { manifest, groups };

/**
 * Every setting byoc knows: the shared ones, then each command's options (loads every command module); a file is
 * checked against the table the build wrote from them (dist/settings.json).
 */
export const settingsCatalog = catalogFor(manifest, builtSettings);
