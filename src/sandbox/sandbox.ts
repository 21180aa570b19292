/**
 * `byoc sandbox up | down | status`: a customer deployment on loopback, shaped like the real one. ClickHouse
 * (Debian's 18.16) listens on 127.0.0.1 only; nginx in front of it does mutual TLS with the broker's CA and maps
 * the certificate's CN to a read-only ClickHouse user, the way the customer's ingress does for the vendor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { brokerDir } from '../access/broker.js';
import type { Clock, Env } from '../context.js';
import { ConfigError, RemoteError } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from '../util/secure-fs.js';
import {
  CUSTOMER_USER,
  SANDBOX_APPROVERS,
  SANDBOX_HOST,
  SANDBOX_REQUESTER,
  SANDBOX_SERVICE,
  sandboxPaths,
  type SandboxPaths,
} from './layout.js';
import { clickhousePing, freePort, httpCall, portFree, tcpAccepts } from './net.js';
import { renderClickhouseConfig, renderNginxConfig, renderPrometheusConfig, renderUsersXml, type SandboxGrant } from './render.js';
import type { SandboxSystem } from './system.js';

/** What the sandbox needs from the world; commands build it from the context. */
export interface SandboxHost {
  /** PATH (to find the binaries) and the environment of the servers it starts */
  env: Env;
  clock: Clock;
  system: SandboxSystem;
  /** progress for a person, on stderr */
  progress?: (message: string) => void;
}

/** What `sandbox up` needs of the broker: its CRL for nginx, and the approved requests to apply. */
;

/** The servers get a minimal environment, not byoc's (which may hold BYOC_TOKEN and the like). */
function serverEnv(env: Env): Env {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
  return Object.fromEntries(keep.filter((name) => env[name] !== undefined).map((name) => [name, env[name]]));
}

const DEBIAN_PACKAGES = ['clickhouse-server', 'nginx-light', 'prometheus', 'prometheus-node-exporter'] as const;
const INSTALL_COMMAND = `apt-get update && apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
const SYSTEM_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
const CLICKHOUSE_START_TIMEOUT_MS = 30_000;
const NGINX_START_TIMEOUT_MS = 10_000;
const PROMETHEUS_START_TIMEOUT_MS = 30_000;
/** short, so a test or the demo sees samples within seconds of `up` */
const SCRAPE_INTERVAL = '2s';
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 100;
const SERVER_CERT_LIFETIME_MS = 365 * 86_400_000;

/** `<stateDir>/sandbox/sandbox.json`: the ports chosen at the first `up` (reused while free) and the binaries. */
export interface SandboxState {
  version: 1;
  createdAt: string;
  clickhouse: { bin: string; httpPort: number; tcpPort: number };
  /** metricsPort: nginx's metrics door (absent in states written before #18; `up` adds it) */
  nginx: { bin: string; port: number; metricsPort?: number };
  prometheus?: { bin: string; port: number };
  nodeExporter?: { bin: string; port: number };
}

/** A state whose every server has its port (what `up` writes). */
type FullState = SandboxState & { nginx: { metricsPort: number }; prometheus: { bin: string; port: number }; nodeExporter: { bin: string; port: number } };

const isFull = (state: SandboxState | undefined): state is FullState => state?.nginx.metricsPort !== undefined && state.prometheus !== undefined && state.nodeExporter !== undefined;

export interface SandboxBinaries {
  clickhouse?: string | undefined;
  nginx?: string | undefined;
  prometheus?: string | undefined;
  nodeExporter?: string | undefined;
}

export interface SandboxUpOptions {
  /** the broker that runs the sandbox: nginx checks its CRL, and its approved requests become users */
  authority: import('./operator.js').SandboxAuthority;
  /** install the Debian packages when missing (root and apt-get only) */
  install?: boolean;
  clickhouseBin?: string | undefined;
  nginxBin?: string | undefined;
  prometheusBin?: string | undefined;
  nodeExporterBin?: string | undefined;
}

export interface SandboxUpResult {
  service: typeof SANDBOX_SERVICE;
  /** true when `up` found both servers running and healthy, and changed nothing */
  alreadyRunning: boolean;
  /**
   * ClickHouse itself, for the customer: `httpUrl` is its own HTTP port (no TLS, loopback only).
   * `url` is the deprecated name of nginx.url (0.1); it goes away in 0.3.
   */
  clickhouse: { httpUrl: string; httpPort: number; tcpPort: number; pid: number; /** @deprecated use nginx.url */ url: string };
  /** `url` is what engineers use: nginx, mutual TLS with the broker's CA */
  nginx: { url: string; port: number; pid: number; /** the metrics door: mutual TLS, metrics scope, read endpoints only */ metricsUrl: string; metricsPort: number };
  /** Prometheus itself (loopback, no TLS): the customer's side; engineers go through nginx.metricsUrl */
  prometheus: { url: string; port: number; pid: number };
  nodeExporter: { port: number; pid: number };
  requester: string;
  approver: string;
  approvers: string[];
  customer: { user: string; passwordFile: string; url: string };
  caFile: string;
  stateDir: string;
}

interface ProcessStatus {
  running: boolean;
  pid?: number | undefined;
  healthy: boolean;
}

export interface SandboxStatus {
  service: typeof SANDBOX_SERVICE;
  /** the sandbox was set up at least once (sandbox.json exists) */
  configured: boolean;
  /** both servers running and answering */
  up: boolean;
  /** registered in services.json, so every byoc command knows the service */
  registered: boolean;
  /** `httpUrl`: ClickHouse's own HTTP port; `url` is its deprecated name (0.1), gone in 0.3 */
  clickhouse: ProcessStatus & { httpPort?: number; tcpPort?: number; httpUrl?: string; /** @deprecated use httpUrl */ url?: string };
  /** `url`: what engineers use (nginx, mutual TLS) */
  nginx: ProcessStatus & { port?: number; url?: string; metricsPort?: number; metricsUrl?: string; workers: number[] };
  prometheus: ProcessStatus & { port?: number; url?: string };
  nodeExporter: ProcessStatus & { port?: number };
  /** identities nginx lets through, and the ClickHouse user each becomes (one entry per grant) */
  identities: { identity: string; user: string }[];
  /** the approved requests nginx lets through, each with its own ClickHouse user */
  grants: SandboxGrant[];
  paths: {
    root: string;
    clickhouseConfig: string;
    clickhouseUsersDir: string;
    clickhouseErrorLog: string;
    nginxConfig: string;
    nginxErrorLog: string;
    usersMap: string;
    metricsMap: string;
    metricsLog: string;
    prometheusConfig: string;
    prometheusData: string;
    crlFile: string;
    customerPasswordFile: string;
    caFile: string;
    servicesFile: string;
  };
}

interface StopReport {
  pid?: number | undefined;
  wasRunning: boolean;
  /** how it ended: a clean SIGTERM, or SIGKILL after the timeout */
  stoppedWith?: 'SIGTERM' | 'SIGKILL';
}

export interface SandboxDownResult {
  service: typeof SANDBOX_SERVICE;
  clickhouse: StopReport;
  nginx: StopReport;
  prometheus: StopReport;
  nodeExporter: StopReport;
  unregistered: boolean;
  purged: boolean;
  stateDir: string;
}

/** The path or name of each binary: an explicit setting, else found on PATH or in the system folders. */
export function findSandboxBinaries(env: Env, explicit: SandboxBinaries = {}): SandboxBinaries {
  return {
    clickhouse: findExecutable(explicit.clickhouse ?? 'clickhouse-server', env),
    nginx: findExecutable(explicit.nginx ?? 'nginx', env),
    prometheus: findExecutable(explicit.prometheus ?? 'prometheus', env),
    nodeExporter: findExecutable(explicit.nodeExporter ?? 'prometheus-node-exporter', env),
  };
}

function findExecutable(name: string, env: Env): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SYSTEM_BIN_DIRS].map((dir) => path.join(dir, name));
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

async function requireBinaries(host: SandboxHost, options: SandboxUpOptions): Promise<Required<{ [K in keyof SandboxBinaries]: string }>> {
  const explicit = { clickhouse: options.clickhouseBin, nginx: options.nginxBin, prometheus: options.prometheusBin, nodeExporter: options.nodeExporterBin };
  let found = findSandboxBinaries(host.env, explicit);
  const complete = () => Boolean(found.clickhouse && found.nginx && found.prometheus && found.nodeExporter);
  if (!complete() && options.install) {
    await installPackages(host);
    found = findSandboxBinaries(host.env, explicit);
  }
  if (found.clickhouse && found.nginx && found.prometheus && found.nodeExporter) {
    return { clickhouse: found.clickhouse, nginx: found.nginx, prometheus: found.prometheus, nodeExporter: found.nodeExporter };
  }
  const missing = [
    !found.clickhouse && (options.clickhouseBin ?? 'clickhouse-server'),
    !found.nginx && (options.nginxBin ?? 'nginx'),
    !found.prometheus && (options.prometheusBin ?? 'prometheus'),
    !found.nodeExporter && (options.nodeExporterBin ?? 'prometheus-node-exporter'),
  ].filter(Boolean);
  throw new ConfigError('sandbox_binaries_missing', `the sandbox needs ${missing.join(' and ')}, which ${missing.length > 1 ? 'are' : 'is'} not installed`, {
    hint: `Install the Debian packages ${DEBIAN_PACKAGES.join(' and ')}: ${INSTALL_COMMAND} (as root), or run byoc sandbox up --install as root; or point byoc at the binaries with BYOC_SANDBOX_CLICKHOUSE_BIN / BYOC_SANDBOX_NGINX_BIN / BYOC_SANDBOX_PROMETHEUS_BIN / BYOC_SANDBOX_NODE_EXPORTER_BIN.`,
  });
}

async function installPackages(host: SandboxHost): Promise<void> {
  const aptGet = findExecutable('apt-get', host.env);
  if (!host.system.isRoot || !aptGet) {
    throw new ConfigError('sandbox_install_unavailable', `--install needs ${!aptGet ? 'apt-get (a Debian or Ubuntu system)' : 'root'}`, {
      hint: `Install ${DEBIAN_PACKAGES.join(' and ')} yourself: ${aptGet ? `sudo sh -c '${INSTALL_COMMAND}'` : 'with your system package manager'}.`,
    });
  }
  const env = { ...host.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...DEBIAN_PACKAGES]]) {
    host.progress?.(`running apt-get ${args.join(' ')}`);
    const result = await host.system.run(aptGet, args, { env, timeoutMs: 15 * 60_000 });
    if (result.exitCode !== 0) {
      throw new RemoteError('sandbox_install_failed', `apt-get ${args.join(' ')} failed${result.timedOut ? ' (timed out)' : ` with exit code ${result.exitCode}`}: ${lastLines(result.stderr || result.stdout, 5)}`, {
        hint: `Run ${INSTALL_COMMAND} by hand to see what is wrong.`,
      });
    }
  }
}

export async function readSandboxState(stateDir: string): Promise<SandboxState | undefined> {
  try {
    return JSON.parse(await readFile(sandboxPaths(stateDir).state, 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid in a pid file, when that process is alive and still the server (a stale file's pid may have been
 * reused by an unrelated process, which `down` must never signal).
 */
async function livePid(file: string, system: SandboxSystem, server: 'clickhouse' | 'nginx' | 'prometheus' | 'node-exporter' | 'node_exporter'): Promise<number | undefined> {
  const pid = await readPid(file);
  if (pid === undefined || !system.isAlive(pid)) return undefined;
  const title = system.processTitle(pid);
  return title === undefined || title.includes(server) ? pid : undefined;
}

/** The broker's CA certificate: nginx trusts client certificates from it, and byoc trusts nginx's through it. */
export function brokerCaFile(stateDir: string): string {
  // caFiles(...).cert of src/pki/ca.ts, written out: importing that module loads node-forge (~20 ms), and every
  // embedded-broker command loads this one to sweep the sandbox's grants (test/unit/startup.test.ts checks both).
  return path.join(brokerDir(stateDir), 'ca', 'ca.crt');
}

function sandboxUrl(port: number): string {
  return `https://${SANDBOX_HOST}:${port}`;
}

function prometheusUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** Prometheus's own readiness answer (loopback, no TLS). */
async function prometheusReady(port: number, timeoutMs = 1000): Promise<boolean> {
  try {
    return (await httpCall({ port, path: '/-/ready', timeoutMs })).status === 200;
  } catch {
    return false;
  }
}

async function nodeExporterLivePid(paths: SandboxPaths, system: SandboxSystem): Promise<number | undefined> {
  // Debian's binary is prometheus-node-exporter; upstream's is node_exporter.
  return (await livePid(paths.nodeExporter.pid, system, 'node-exporter')) ?? livePid(paths.nodeExporter.pid, system, 'node_exporter');
}

export async function sandboxStatus(stateDir: string, host: SandboxHost): Promise<SandboxStatus> {
  const paths = sandboxPaths(stateDir);
  const state = await readSandboxState(stateDir);
  const [clickhousePid, nginxPid, prometheusPid, nodeExporterPid] = await Promise.all([
    livePid(paths.clickhouse.pid, host.system, 'clickhouse'),
    livePid(paths.nginx.pid, host.system, 'nginx'),
    livePid(paths.prometheus.pid, host.system, 'prometheus'),
    nodeExporterLivePid(paths, host.system),
  ]);
  const clickhouseHealthy = clickhousePid !== undefined && state !== undefined && (await clickhousePing(state.clickhouse.httpPort));
  const nginxHealthy = nginxPid !== undefined && isFull(state) && (await tcpAccepts(state.nginx.port)) && (await tcpAccepts(state.nginx.metricsPort));
  const prometheusHealthy = prometheusPid !== undefined && state?.prometheus !== undefined && (await prometheusReady(state.prometheus.port));
  const nodeExporterHealthy = nodeExporterPid !== undefined && state?.nodeExporter !== undefined && (await tcpAccepts(state.nodeExporter.port));
  const [{ stateServices }, { liveGrants }] = await Promise.all([import('../config/state-services.js'), import('./operator.js')]);
  const registered = SANDBOX_SERVICE in (await stateServices(stateDir));
  const grants = await liveGrants(stateDir, host.clock.now());
  return {
    service: SANDBOX_SERVICE,
    configured: state !== undefined,
    up: clickhouseHealthy && nginxHealthy && prometheusHealthy && nodeExporterHealthy,
    registered,
    clickhouse: {
      running: clickhousePid !== undefined,
      pid: clickhousePid,
      healthy: clickhouseHealthy,
      ...(state ? { httpPort: state.clickhouse.httpPort, tcpPort: state.clickhouse.tcpPort, httpUrl: clickhouseHttpUrl(state), url: clickhouseHttpUrl(state) } : {}),
    },
    nginx: {
      running: nginxPid !== undefined,
      pid: nginxPid,
      healthy: nginxHealthy,
      workers: nginxPid !== undefined ? host.system.children(nginxPid) : [],
      ...(state ? { port: state.nginx.port, url: sandboxUrl(state.nginx.port) } : {}),
      ...(state?.nginx.metricsPort !== undefined ? { metricsPort: state.nginx.metricsPort, metricsUrl: sandboxUrl(state.nginx.metricsPort) } : {}),
    },
    prometheus: {
      running: prometheusPid !== undefined,
      pid: prometheusPid,
      healthy: prometheusHealthy,
      ...(state?.prometheus ? { port: state.prometheus.port, url: prometheusUrl(state.prometheus.port) } : {}),
    },
    nodeExporter: {
      running: nodeExporterPid !== undefined,
      pid: nodeExporterPid,
      healthy: nodeExporterHealthy,
      ...(state?.nodeExporter ? { port: state.nodeExporter.port } : {}),
    },
    identities: grants.map(({ identity, user }) => ({ identity, user })),
    grants,
    paths: {
      root: paths.root,
      clickhouseConfig: paths.clickhouse.config,
      clickhouseUsersDir: paths.clickhouse.usersDir,
      clickhouseErrorLog: paths.clickhouse.errorLog,
      nginxConfig: paths.nginx.config,
      nginxErrorLog: paths.nginx.errorLog,
      usersMap: paths.nginx.usersMap,
      metricsMap: paths.nginx.metricsMap,
      metricsLog: paths.nginx.metricsLog,
      prometheusConfig: paths.prometheus.config,
      prometheusData: paths.prometheus.data,
      crlFile: paths.nginx.crl,
      customerPasswordFile: paths.customerPassword,
      caFile: brokerCaFile(stateDir),
      servicesFile: paths.services,
    },
  };
}

/** Starts (or finishes starting) the sandbox; a sandbox already up is reported, not restarted. */
export async function sandboxUp(stateDir: string, host: SandboxHost, options: SandboxUpOptions): Promise<SandboxUpResult> {
  const paths = sandboxPaths(stateDir);
  const bins = await requireBinaries(host, options);
  const caFile = brokerCaFile(stateDir);
  const previous = await readSandboxState(stateDir);
  const before = await sandboxStatus(stateDir, host);
  if (isFull(previous) && before.up) {
    // Already running: still bring the users in line with the broker (and sweep what expired).
    const { syncWithBroker, reconcile } = await import('./operator.js');
    await syncWithBroker(stateDir, host, options.authority);
    await reconcile(stateDir, host, options.authority, { running: previous, refreshCrl: true });
    await register(stateDir, previous, caFile);
    return upResult(stateDir, previous, { clickhouse: before.clickhouse.pid!, nginx: before.nginx.pid!, prometheus: before.prometheus.pid!, nodeExporter: before.nodeExporter.pid! }, caFile, true);
  }

  for (const dir of [paths.root, paths.clickhouse.dir, paths.clickhouse.data, paths.clickhouse.logs, paths.clickhouse.usersDir, paths.nginx.dir, paths.nginx.certs, paths.nginx.logs, paths.nginx.temp, paths.nginx.grants, paths.prometheus.dir, paths.prometheus.data, paths.prometheus.logs, paths.nodeExporter.dir]) {
    await ensurePrivateDir(dir);
  }
  const clickhouseRunning = before.clickhouse.running ? before.clickhouse.pid : undefined;
  const nginxRunning = before.nginx.running ? before.nginx.pid : undefined;
  const prometheusRunning = before.prometheus.running ? before.prometheus.pid : undefined;
  const nodeExporterRunning = before.nodeExporter.running ? before.nodeExporter.pid : undefined;
  const taken = new Set<number>();
  const port = async (stored: number | undefined, keep: boolean) => {
    let chosen = stored !== undefined && (keep || (!taken.has(stored) && (await portFree(stored)))) ? stored : await freePort();
    while (taken.has(chosen)) chosen = await freePort();
    taken.add(chosen);
    return chosen;
  };
  const state: FullState = {
    version: 1,
    createdAt: previous?.createdAt ?? host.clock.now().toISOString(),
    clickhouse: {
      bin: bins.clickhouse,
      httpPort: await port(previous?.clickhouse.httpPort, clickhouseRunning !== undefined),
      tcpPort: await port(previous?.clickhouse.tcpPort, clickhouseRunning !== undefined),
    },
    nginx: {
      bin: bins.nginx,
      port: await port(previous?.nginx.port, nginxRunning !== undefined),
      metricsPort: await port(previous?.nginx.metricsPort, nginxRunning !== undefined && previous?.nginx.metricsPort !== undefined),
    },
    prometheus: { bin: bins.prometheus, port: await port(previous?.prometheus?.port, prometheusRunning !== undefined) },
    nodeExporter: { bin: bins.nodeExporter, port: await port(previous?.nodeExporter?.port, nodeExporterRunning !== undefined) },
  };
  await writePrivateFile(paths.state, `${JSON.stringify(state, null, 2)}\n`);

  const started: number[] = [];
  try {
    const customerPassword = await readOrCreateSecret(paths.customerPassword);
    await writePrivateFile(paths.clickhouse.config, renderClickhouseConfig({ paths, httpPort: state.clickhouse.httpPort, tcpPort: state.clickhouse.tcpPort }));
    await writePrivateFile(
      paths.clickhouse.users,
      renderUsersXml({ defaultPasswordSha256: sha256(randomBytes(24).toString('base64url')), customerPasswordSha256: sha256(customerPassword) }),
    );
    let clickhousePid = clickhouseRunning;
    if (clickhousePid === undefined) {
      clickhousePid = await startClickhouse(paths, state, host);
      started.push(clickhousePid);
    }
    await seedCustomerData(state.clickhouse.httpPort, customerPassword);

    let nodeExporterPid = nodeExporterRunning;
    if (nodeExporterPid === undefined) {
      nodeExporterPid = await startNodeExporter(paths, state, host);
      started.push(nodeExporterPid);
    }
    await writePrivateFile(
      paths.prometheus.config,
      renderPrometheusConfig({ prometheusPort: state.prometheus.port, nodeExporterPort: state.nodeExporter.port, scrapeInterval: SCRAPE_INTERVAL }),
    );
    let prometheusPid = prometheusRunning;
    if (prometheusPid === undefined) {
      prometheusPid = await startPrometheus(paths, state, host);
      started.push(prometheusPid);
    }

    await writeServerCertificate(paths, options.authority, host.clock.now());
    // The users are exactly the broker's approved requests (some may have been approved or revoked while the
    // sandbox was down), and nginx starts with the broker's current CRL.
    const { syncWithBroker, reconcile } = await import('./operator.js');
    await syncWithBroker(stateDir, host, options.authority);
    await reconcile(stateDir, host, options.authority, { running: undefined, refreshCrl: true });
    const generation = await writeNginxConfig(paths, state, caFile, host.system.isRoot);
    let nginxPid = nginxRunning;
    if (nginxPid === undefined) {
      nginxPid = await startNginx(paths, state, host, generation);
      started.push(nginxPid);
    } else {
      await reloadNginx(paths, state, host, generation);
    }
    await register(stateDir, state, caFile);
    return upResult(stateDir, state, { clickhouse: clickhousePid, nginx: nginxPid, prometheus: prometheusPid, nodeExporter: nodeExporterPid }, caFile, false);
  } catch (error) {
    // Leave nothing half-started behind: a later `up` starts from a clean slate.
    for (const pid of started) await stopProcess(pid, host, 5000);
    throw error;
  }
}

/** ClickHouse's own HTTP endpoint: the customer's side, never the engineers'. */
function clickhouseHttpUrl(state: SandboxState): string {
  return `http://127.0.0.1:${state.clickhouse.httpPort}`;
}

export function upResult(
  stateDir: string,
  state: FullState,
  pids: { clickhouse: number; nginx: number; prometheus: number; nodeExporter: number },
  caFile: string,
  alreadyRunning: boolean,
): SandboxUpResult {
  const paths = sandboxPaths(stateDir);
  const engineers = sandboxUrl(state.nginx.port);
  return {
    service: SANDBOX_SERVICE,
    alreadyRunning,
    clickhouse: { httpUrl: clickhouseHttpUrl(state), httpPort: state.clickhouse.httpPort, tcpPort: state.clickhouse.tcpPort, pid: pids.clickhouse, url: engineers },
    nginx: { url: engineers, port: state.nginx.port, pid: pids.nginx, metricsUrl: sandboxUrl(state.nginx.metricsPort), metricsPort: state.nginx.metricsPort },
    prometheus: { url: prometheusUrl(state.prometheus.port), port: state.prometheus.port, pid: pids.prometheus },
    nodeExporter: { port: state.nodeExporter.port, pid: pids.nodeExporter },
    requester: SANDBOX_REQUESTER,
    approver: SANDBOX_APPROVERS[0],
    approvers: [...SANDBOX_APPROVERS],
    customer: { user: CUSTOMER_USER, passwordFile: paths.customerPassword, url: clickhouseHttpUrl(state) },
    caFile,
    stateDir,
  };
}

async function register(stateDir: string, state: FullState, caFile: string): Promise<void> {
  const { registerStateService } = await import('../config/state-services.js');
  await registerStateService(stateDir, SANDBOX_SERVICE, {
    clickhouse: { url: sandboxUrl(state.nginx.port) },
    // The metrics door: nginx's certificate comes from the broker's CA, like the ClickHouse door's.
    prometheus: { url: sandboxUrl(state.nginx.metricsPort), caFile },
    policy: { approvers: [...SANDBOX_APPROVERS], approvals: 1, maxDuration: '2h', pendingTtl: '30m' },
    resolve: { [SANDBOX_HOST]: '127.0.0.1' },
    caFile,
    // The customer's own side: ClickHouse's HTTP port directly, as the customer's admin (for `byoc audit query-log sandbox`).
    audit: { url: clickhouseHttpUrl(state), user: CUSTOMER_USER, passwordFile: sandboxPaths(stateDir).customerPassword },
  });
}

async function readOrCreateSecret(file: string): Promise<string> {
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing) return existing;
  } catch {
    // first up
  }
  const secret = randomBytes(24).toString('base64url');
  await writePrivateFile(file, `${secret}\n`);
  return secret;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The last lines a file gained since `offset`: what this start wrote, not an earlier run's complaints. */
async function tailSince(file: string, offset: number, lines = 12): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(offset <= size ? offset : 0, size - 64 * 1024);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return lastLines(buffer.toString('utf8'), lines);
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

async function startClickhouse(paths: SandboxPaths, state: SandboxState, host: SandboxHost): Promise<number> {
  host.progress?.(`starting clickhouse-server on 127.0.0.1:${state.clickhouse.httpPort}`);
  const offsets = { err: await fileSize(paths.clickhouse.errorLog), stderr: await fileSize(paths.clickhouse.stderr) };
  // No --daemon: the spawned process is the server, so its pid is the one to stop later.
  const pid = await host.system.spawnDetached(state.clickhouse.bin, [`--config-file=${paths.clickhouse.config}`], {
    env: serverEnv(host.env),
    cwd: paths.clickhouse.dir,
    stdoutFile: paths.clickhouse.stdout,
    stderrFile: paths.clickhouse.stderr,
  });
  await writePrivateFile(paths.clickhouse.pid, `${pid}\n`);
  const deadline = host.clock.now().getTime() + CLICKHOUSE_START_TIMEOUT_MS;
  for (;;) {
    if (await clickhousePing(state.clickhouse.httpPort, 500)) return pid;
    const alive = host.system.isAlive(pid);
    if (!alive || host.clock.now().getTime() >= deadline) {
      if (alive) await stopProcess(pid, host, 5000);
      await rm(paths.clickhouse.pid, { force: true });
      const log = (await tailSince(paths.clickhouse.errorLog, offsets.err)) || (await tailSince(paths.clickhouse.stderr, offsets.stderr));
      throw new RemoteError(
        'sandbox_clickhouse_failed',
        `clickhouse-server ${alive ? `did not answer /ping within ${CLICKHOUSE_START_TIMEOUT_MS / 1000} s` : 'exited during start-up'}${log ? `; last lines of its error log:\n${log}` : ''}`,
        { hint: `See ${paths.clickhouse.errorLog} and ${paths.clickhouse.stderr}; then byoc sandbox up again.` },
      );
    }
    await host.clock.sleep(POLL_MS);
  }
}

/** A loopback server we start ourselves and wait for; on failure, the last lines it wrote. */
/** Where a server started by the sandbox runs and writes: its folder, output, error log and pid file. */
interface ServerFiles {
  dir: string;
  stdout: string;
  stderr: string;
  pid: string;
}

async function startServer(
  host: SandboxHost,
  spec: { name: string; bin: string; args: string[]; files: ServerFiles; timeoutMs: number; ready: () => Promise<boolean> },
): Promise<number> {
  const { dir, stdout, stderr, pid: pidFile } = spec.files;
  const offset = await fileSize(stderr);
  const pid = await host.system.spawnDetached(spec.bin, spec.args, { env: serverEnv(host.env), cwd: dir, stdoutFile: stdout, stderrFile: stderr });
  await writePrivateFile(pidFile, `${pid}\n`);
  const deadline = host.clock.now().getTime() + spec.timeoutMs;
  for (;;) {
    if (await spec.ready()) return pid;
    const alive = host.system.isAlive(pid);
    if (!alive || host.clock.now().getTime() >= deadline) {
      if (alive) await stopProcess(pid, host, 5000);
      await rm(pidFile, { force: true });
      const log = await tailSince(stderr, offset);
      throw new RemoteError(`sandbox_${spec.name.replace(/-/g, '_')}_failed`, `${spec.name} ${alive ? `was not ready within ${spec.timeoutMs / 1000} s` : 'exited during start-up'}${log ? `; last lines of its log:\n${log}` : ''}`, {
        hint: `See ${stderr}; then byoc sandbox up again.`,
      });
    }
    await host.clock.sleep(POLL_MS);
  }
}

async function startNodeExporter(paths: SandboxPaths, state: FullState, host: SandboxHost): Promise<number> {
  host.progress?.(`starting prometheus-node-exporter on 127.0.0.1:${state.nodeExporter.port}`);
  return startServer(host, {
    name: 'node-exporter',
    bin: state.nodeExporter.bin,
    // A handful of collectors: enough for the presets' node metrics, light on a shared machine.
    args: [
      `--web.listen-address=127.0.0.1:${state.nodeExporter.port}`,
      '--collector.disable-defaults',
      '--collector.cpu',
      '--collector.meminfo',
      '--collector.loadavg',
      '--collector.filesystem',
      '--collector.diskstats',
      '--collector.time',
    ],
    files: paths.nodeExporter,
    timeoutMs: PROMETHEUS_START_TIMEOUT_MS,
    ready: () => tcpAccepts(state.nodeExporter.port, 500),
  });
}

async function startPrometheus(paths: SandboxPaths, state: FullState, host: SandboxHost): Promise<number> {
  host.progress?.(`starting prometheus on 127.0.0.1:${state.prometheus.port}`);
  return startServer(host, {
    name: 'prometheus',
    bin: state.prometheus.bin,
    // No --web.enable-lifecycle and no --web.enable-admin-api: Prometheus refuses those paths too, behind nginx's allowlist.
    args: [
      `--config.file=${paths.prometheus.config}`,
      `--storage.tsdb.path=${paths.prometheus.data}`,
      '--storage.tsdb.retention.time=2d',
      `--web.listen-address=127.0.0.1:${state.prometheus.port}`,
    ],
    files: paths.prometheus,
    timeoutMs: PROMETHEUS_START_TIMEOUT_MS,
    ready: () => prometheusReady(state.prometheus.port, 500),
  });
}

async function clickhouseQuery(port: number, password: string, sql: string): Promise<string> {
  const answer = await httpCall({
    port,
    method: 'POST',
    path: '/',
    headers: { 'X-ClickHouse-User': CUSTOMER_USER, 'X-ClickHouse-Key': password },
    body: sql,
    timeoutMs: 15_000,
  });
  if (answer.status !== 200) {
    throw new RemoteError('sandbox_clickhouse_query_failed', `ClickHouse refused a sandbox set-up query (HTTP ${answer.status}): ${answer.body.trim()}`, {
      hint: 'Stop the sandbox with byoc sandbox down, then byoc sandbox up again (add --purge to start from scratch).',
    });
  }
  return answer.body;
}

/** The customer's own data: it must stay out of every engineer's reach. Created once, kept across restarts. */
async function seedCustomerData(port: number, password: string): Promise<void> {
  await clickhouseQuery(
    port,
    password,
    'CREATE TABLE IF NOT EXISTS default.orders (id UInt64, customer String, amount Float64, created DateTime) ENGINE = MergeTree ORDER BY id',
  );
  if ((await clickhouseQuery(port, password, 'SELECT count() FROM default.orders')).trim() !== '0') return;
  await clickhouseQuery(
    port,
    password,
    `INSERT INTO default.orders VALUES (1, 'Initech', 1250.5, '2026-01-05 09:12:00'), (2, 'Globex', 310.0, '2026-01-06 14:40:00'), (3, 'Umbrella', 9800.25, '2026-01-07 08:03:00'), (4, 'Hooli', 45.99, '2026-01-07 17:21:00')`,
  );
}

async function writeServerCertificate(paths: SandboxPaths, authority: SandboxUpOptions['authority'], now: Date): Promise<void> {
  const [{ issueServerCertificate, NOT_BEFORE_SKEW_MS }, { generateKeyPairPem }] = await Promise.all([import('../pki/ca.js'), import('../pki/x509.js')]);
  const ca = await authority.ca();
  const keys = await generateKeyPairPem();
  const certPem = issueServerCertificate(ca, {
    publicKeyPem: keys.publicKeyPem,
    names: [SANDBOX_HOST, '127.0.0.1'],
    notBefore: new Date(now.getTime() - NOT_BEFORE_SKEW_MS),
    notAfter: new Date(now.getTime() + SERVER_CERT_LIFETIME_MS),
  });
  await writePrivateFile(paths.nginx.serverKey, keys.privateKeyPem);
  await writePrivateFile(paths.nginx.serverCert, certPem);
}

/** Writes nginx.conf and returns its generation: a digest of everything a reload would change. */
export async function writeNginxConfig(paths: SandboxPaths, state: SandboxState, caFile: string, runAsRoot: boolean): Promise<string> {
  if (!isFull(state)) throw new Error('the sandbox state has no metrics ports yet: byoc sandbox up first');
  const input = {
    paths,
    port: state.nginx.port,
    clickhouseHttpPort: state.clickhouse.httpPort,
    metricsPort: state.nginx.metricsPort,
    prometheusPort: state.prometheus.port,
    caFile,
    crlFile: paths.nginx.crl,
    runAsRoot,
  };
  const digest = createHash('sha256').update(renderNginxConfig({ ...input, generation: '' }));
  for (const file of [paths.nginx.usersMap, paths.nginx.keysMap, paths.nginx.metricsMap, paths.nginx.crl, caFile, paths.nginx.serverCert]) digest.update(await readFile(file, 'utf8').catch(() => ''));
  const generation = digest.digest('hex').slice(0, 16);
  await writePrivateFile(paths.nginx.config, renderNginxConfig({ ...input, generation }));
  return generation;
}

function nginxArgs(paths: SandboxPaths): string[] {
  // -e: nginx opens its compiled-in error log before reading the configuration; keep even that in the sandbox.
  return ['-p', `${paths.nginx.dir}/`, '-c', paths.nginx.config, '-e', paths.nginx.errorLog];
}

async function startNginx(paths: SandboxPaths, state: SandboxState, host: SandboxHost, generation: string): Promise<number> {
  host.progress?.(`starting nginx (mutual TLS) on 127.0.0.1:${state.nginx.port}`);
  const offset = await fileSize(paths.nginx.errorLog);
  const result = await host.system.run(state.nginx.bin, nginxArgs(paths), { env: serverEnv(host.env), timeoutMs: NGINX_START_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    const log = (await tailSince(paths.nginx.errorLog, offset)) || lastLines(result.stderr, 12);
    throw new RemoteError('sandbox_nginx_failed', `nginx did not start${result.timedOut ? ' (timed out)' : ` (exit code ${result.exitCode})`}${log ? `:\n${log}` : ''}`, {
      hint: `Check ${paths.nginx.config} with: ${state.nginx.bin} -t ${nginxArgs(paths).join(' ')}`,
    });
  }
  await waitForNginxGeneration(paths, host, generation, offset);
  const pid = await livePid(paths.nginx.pid, host.system, 'nginx');
  if (pid === undefined) {
    throw new RemoteError('sandbox_nginx_failed', `nginx started but left no live pid in ${paths.nginx.pid}`, { hint: `See ${paths.nginx.errorLog}.` });
  }
  return pid;
}

/** Makes the running nginx read its configuration again, and waits until its workers run the new one. */
export async function reloadNginx(paths: SandboxPaths, state: SandboxState, host: SandboxHost, generation: string): Promise<void> {
  // Nothing changed: a reload would only cycle the workers (and drop idle keep-alive connections) for nothing.
  if ((await runningGeneration(paths)) === generation) return;
  const offset = await fileSize(paths.nginx.errorLog);
  const master = await livePid(paths.nginx.pid, host.system, 'nginx');
  const oldWorkers = master !== undefined ? host.system.children(master) : [];
  const result = await host.system.run(state.nginx.bin, [...nginxArgs(paths), '-s', 'reload'], { env: serverEnv(host.env), timeoutMs: NGINX_START_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    const log = lastLines(result.stderr, 12) || (await tailSince(paths.nginx.errorLog, offset));
    throw new RemoteError('sandbox_nginx_reload_failed', `nginx -s reload failed (exit code ${result.exitCode})${log ? `:\n${log}` : ''}`, {
      hint: `See ${paths.nginx.errorLog}; byoc sandbox down && byoc sandbox up restarts it.`,
    });
  }
  await waitForNginxGeneration(paths, host, generation, offset);
  await waitForOldWorkers(oldWorkers, host);
}

/**
 * New workers answering is not enough: until an old worker has handled its QUIT it still accepts connections
 * with the old users.map (a just-approved engineer could meet a 403 from it). nginx retitles a worker that has
 * stopped accepting "worker process is shutting down"; it may linger while it finishes a long query.
 */
async function waitForOldWorkers(workers: readonly number[], host: SandboxHost): Promise<void> {
  const deadline = host.clock.now().getTime() + NGINX_START_TIMEOUT_MS;
  const accepting = () => workers.filter((pid) => host.system.isAlive(pid) && !/shutting down/.test(host.system.processTitle(pid) ?? 'shutting down'));
  while (accepting().length > 0) {
    if (host.clock.now().getTime() >= deadline) {
      throw new RemoteError('sandbox_nginx_reload_failed', `old nginx workers (${accepting().join(', ')}) still accept connections ${NGINX_START_TIMEOUT_MS / 1000} s after the reload`, {
        hint: 'byoc sandbox down && byoc sandbox up restarts nginx.',
      });
    }
    await host.clock.sleep(20);
  }
}

async function runningGeneration(paths: SandboxPaths): Promise<string | undefined> {
  try {
    return (await httpCall({ socketPath: paths.nginx.control, path: '/generation', timeoutMs: 1000 })).body.trim();
  } catch {
    return undefined;
  }
}

async function waitForNginxGeneration(paths: SandboxPaths, host: SandboxHost, generation: string, logOffset: number): Promise<void> {
  const deadline = host.clock.now().getTime() + NGINX_START_TIMEOUT_MS;
  let seen = '';
  for (;;) {
    try {
      seen = (await httpCall({ socketPath: paths.nginx.control, path: '/generation', timeoutMs: 1000 })).body.trim();
      if (seen === generation) return;
    } catch {
      // not listening yet
    }
    if (host.clock.now().getTime() >= deadline) {
      const log = await tailSince(paths.nginx.errorLog, logOffset);
      throw new RemoteError('sandbox_nginx_failed', `nginx did not take up its new configuration within ${NGINX_START_TIMEOUT_MS / 1000} s (it runs ${seen || 'nothing'}, expected ${generation})${log ? `:\n${log}` : ''}`, {
        hint: `See ${paths.nginx.errorLog}.`,
      });
    }
    await host.clock.sleep(POLL_MS);
  }
}

/** SIGTERM, then SIGKILL to the whole process group when it does not end in time. */
async function stopProcess(pid: number, host: SandboxHost, timeoutMs: number): Promise<'SIGTERM' | 'SIGKILL'> {
  host.system.kill(pid, 'SIGTERM');
  const deadline = host.clock.now().getTime() + timeoutMs;
  while (host.clock.now().getTime() < deadline) {
    if (!host.system.isAlive(pid)) return 'SIGTERM';
    await host.clock.sleep(POLL_MS);
  }
  host.system.kill(pid, 'SIGKILL', { group: true });
  host.system.kill(pid, 'SIGKILL');
  return 'SIGKILL';
}

/** Stops both servers; the data (and approved users) stay for the next `up` unless `purge`. */
export async function sandboxDown(stateDir: string, host: SandboxHost, options: { purge?: boolean } = {}): Promise<SandboxDownResult> {
  const paths = sandboxPaths(stateDir);
  const nginx: StopReport = { wasRunning: false };
  const nginxPid = await livePid(paths.nginx.pid, host.system, 'nginx');
  if (nginxPid !== undefined) {
    host.progress?.(`stopping nginx (pid ${nginxPid})`);
    const workers = host.system.children(nginxPid);
    nginx.pid = nginxPid;
    nginx.wasRunning = true;
    nginx.stoppedWith = await stopProcess(nginxPid, host, 5000);
    // Workers normally leave with their master; none may outlive the sandbox.
    for (const worker of workers) if (host.system.isAlive(worker)) host.system.kill(worker, 'SIGKILL');
  }
  const stopServer = async (name: string, pid: number | undefined): Promise<StopReport> => {
    if (pid === undefined) return { wasRunning: false };
    host.progress?.(`stopping ${name} (pid ${pid})`);
    return { pid, wasRunning: true, stoppedWith: await stopProcess(pid, host, STOP_TIMEOUT_MS) };
  };
  const prometheus = await stopServer('prometheus', await livePid(paths.prometheus.pid, host.system, 'prometheus'));
  const nodeExporter = await stopServer('prometheus-node-exporter', await nodeExporterLivePid(paths, host.system));
  const clickhouse: StopReport = { wasRunning: false };
  const clickhousePid = await livePid(paths.clickhouse.pid, host.system, 'clickhouse');
  if (clickhousePid !== undefined) {
    host.progress?.(`stopping clickhouse-server (pid ${clickhousePid})`);
    clickhouse.pid = clickhousePid;
    clickhouse.wasRunning = true;
    clickhouse.stoppedWith = await stopProcess(clickhousePid, host, STOP_TIMEOUT_MS);
  }
  await rm(paths.clickhouse.pid, { force: true });
  await rm(paths.nginx.pid, { force: true });
  await rm(paths.prometheus.pid, { force: true });
  await rm(paths.nodeExporter.pid, { force: true });
  const { unregisterStateService } = await import('../config/state-services.js');
  const unregistered = await unregisterStateService(stateDir, SANDBOX_SERVICE);
  if (options.purge) await rm(paths.root, { recursive: true, force: true });
  return { service: SANDBOX_SERVICE, clickhouse, nginx, prometheus, nodeExporter, unregistered, purged: options.purge === true, stateDir };
}

/** The customer's password, for the audit and the tests. */
export async function readCustomerPassword(stateDir: string): Promise<string> {
  return (await readFile(sandboxPaths(stateDir).customerPassword, 'utf8')).trim();
}
