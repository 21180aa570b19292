import path from 'node:path';

/** The sandbox's service name, as the broker, `byoc cert get` and `byoc query` know it. */
export const SANDBOX_SERVICE = 'sandbox';
/** The name nginx's certificate carries; byoc resolves it to loopback (like a tailnet name would resolve). */
export const SANDBOX_HOST = 'ch.sandbox.byoc.internal';
/** The demo's cast: alice asks, bob (or carol) approves. */
export const SANDBOX_REQUESTER = 'alice@vendor.example';
export const SANDBOX_APPROVERS = ['bob@vendor.example', 'carol@vendor.example'] as const;
/** The customer's own administrator: full access, used by `byoc audit query-log`. */
export const CUSTOMER_USER = 'customer_admin';

/** Every file the sandbox owns lives under `<stateDir>/sandbox/`. */
export function sandboxPaths(stateDir: string) {
  const root = path.join(stateDir, 'sandbox');
  const clickhouse = path.join(root, 'clickhouse');
  const nginx = path.join(root, 'nginx');
  const prometheus = path.join(root, 'prometheus');
  const nodeExporter = path.join(root, 'node-exporter');
  return {
    root,
    state: path.join(root, 'sandbox.json'),
    customerPassword: path.join(root, 'customer.password'),
    services: path.join(stateDir, 'services.json'),
    clickhouse: {
      dir: clickhouse,
      config: path.join(clickhouse, 'config.xml'),
      users: path.join(clickhouse, 'users.xml'),
      usersDir: path.join(clickhouse, 'users.d'),
      data: path.join(clickhouse, 'data'),
      logs: path.join(clickhouse, 'logs'),
      log: path.join(clickhouse, 'logs', 'clickhouse-server.log'),
      errorLog: path.join(clickhouse, 'logs', 'clickhouse-server.err.log'),
      stdout: path.join(clickhouse, 'logs', 'stdout.log'),
      stderr: path.join(clickhouse, 'logs', 'stderr.log'),
      pid: path.join(clickhouse, 'clickhouse-server.pid'),
    },
    prometheus: {
      dir: prometheus,
      config: path.join(prometheus, 'prometheus.yml'),
      data: path.join(prometheus, 'data'),
      logs: path.join(prometheus, 'logs'),
      stdout: path.join(prometheus, 'logs', 'stdout.log'),
      stderr: path.join(prometheus, 'logs', 'stderr.log'),
      pid: path.join(prometheus, 'prometheus.pid'),
    },
    nodeExporter: {
      dir: nodeExporter,
      stdout: path.join(nodeExporter, 'stdout.log'),
      stderr: path.join(nodeExporter, 'stderr.log'),
      pid: path.join(nodeExporter, 'node-exporter.pid'),
    },
    nginx: {
      dir: nginx,
      config: path.join(nginx, 'nginx.conf'),
      usersMap: path.join(nginx, 'users.map'),
      /** certificate subjects whose request is approved with the metrics scope -> the request id */
      metricsMap: path.join(nginx, 'metrics.map'),
      keysMap: path.join(nginx, 'keys.map'),
      /** one file per grant (its ClickHouse user's password): what nginx alone holds */
      grants: path.join(nginx, 'grants'),
      /** the broker's CRL as nginx checks it, and when it must be refreshed */
      crl: path.join(nginx, 'crl.pem'),
      crlMeta: path.join(nginx, 'crl.json'),
      certs: path.join(nginx, 'certs'),
      serverCert: path.join(nginx, 'certs', 'server.crt'),
      serverKey: path.join(nginx, 'certs', 'server.key'),
      logs: path.join(nginx, 'logs'),
      errorLog: path.join(nginx, 'logs', 'error.log'),
      accessLog: path.join(nginx, 'logs', 'access.log'),
      /** one JSON line per call to the metrics door: what `byoc audit metrics` reads */
      metricsLog: path.join(nginx, 'logs', 'metrics.log'),
      temp: path.join(nginx, 'temp'),
      pid: path.join(nginx, 'nginx.pid'),
      control: path.join(nginx, 'control.sock'),
    },
  };
}

export type SandboxPaths = ReturnType<typeof sandboxPaths>;
