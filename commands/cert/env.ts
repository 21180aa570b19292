import { defineCommand, option } from '../../src/command.js';
import type { ClientSettings } from '../../src/clickhouse/client-settings.js';
import { UsageError } from '../../src/errors.js';

type EnvFormat = 'env' | 'curl' | 'clickhouse-client' | 'json';

interface CertEnv {
  format: EnvFormat;
  settings: ClientSettings;
  /** the settings in the chosen format, as printed or written */
  content: string;
  /** what was written to --out (0600), instead of printing it */
  out?: string;
}

export default defineCommand({
  examples: [
    'eval "$(byoc cert env acme-prod)"',
    "curl $(byoc cert env acme-prod --format curl) --data-binary 'SELECT version()'",
    'byoc cert env acme-prod --format clickhouse-client --out ~/.byoc-acme-prod.xml && clickhouse-client --config-file ~/.byoc-acme-prod.xml',
    'byoc cert env acme-prod --json | jq -r .certFile',
  ],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    format: option.choice({
      flag: '--format <format>', key: 'cert.envFormat', env: 'BYOC_CERT_ENV_FORMAT', choices: ['env', 'curl', 'clickhouse-client', 'json'], default: 'env',
      description: 'shell exports, curl flags, a clickhouse-client config file, or JSON',
    }),
    out: option.path({ flag: '--out <file>', key: 'cert.envOut', env: 'BYOC_CERT_ENV_OUT', description: 'write it to this file (0600) instead of printing it' }),
  },
  async run({ service, format, out }, ctx): Promise<CertEnv> {
    const [{ obtainCertificate }, { serverUserFor }, { networkOptions }, { proxyFor, hostOf, portOf, describeRoute, redactProxyUrl }] = await Promise.all([
      import('../../src/access/credentials.js'),
      import('../../src/access/server-user.js'),
      import('../../src/net/agents.js'),
      import('../../src/net/network.js'),
    ]);
    const configuration = await ctx.config();
    const clickhouse = configuration.service(service).clickhouse;
    if (!clickhouse?.url) throw new UsageError('no_clickhouse', `service ${service} has no ClickHouse endpoint`, { hint: `Set services.${service}.clickhouse.url.` });
    const url = new URL(clickhouse.url);
    const certificate = await obtainCertificate(ctx, service);
    const network = await networkOptions(ctx);
    const route = describeRoute(url, network);
    const proxy = proxyFor(url, network);
    // An environment proxy is curl's to read from the same variable; a configured one must be said.
    const configured = proxy?.source === 'config' ? proxy : undefined;
    if (configured && redactProxyUrl(configured.url) !== configured.url) {
      ctx.log.warn('network.proxy holds a password: it is printed as *** here; put it back where you use the flags (or in ~/.curlrc)');
    }
    const requestId = certificate.meta.requestId;
    const settings: ClientSettings = {
      service,
      requestId,
      serverUser: serverUserFor(requestId, certificate.request.requester),
      url: clickhouse.url,
      certFile: certificate.certPath,
      keyFile: certificate.keyPath,
      serverCaFile: clickhouse.caFile ? configuration.pathFromFile(clickhouse.caFile) : undefined,
      notAfter: certificate.meta.notAfter,
      route: {
        host: hostOf(url),
        port: portOf(url),
        ...(route.resolvedVia === 'override' ? { address: route.address } : {}),
        ...(configured ? { proxy: { url: redactProxyUrl(configured.url), kind: configured.kind } } : {}),
      },
      native: { host: hostOf(url), port: clickhouse.nativePort ?? 9440 },
    };
    const chosen: EnvFormat = ctx.output.json && !out ? 'json' : format;
    const content = await rendered(chosen, settings);
    if (out !== undefined) {
      const path = await import('node:path');
      const { writePrivateFile } = await import('../../src/util/secure-fs.js');
      const file = path.resolve(ctx.cwd, out);
      await writePrivateFile(file, content);
      return { format: chosen, settings, content, out: file };
    }
    return { format: chosen, settings, content };
  },
  json: ({ settings, out, format }) => ({ ...document(settings), ...(out ? { out, format } : {}) }),
  text: ({ format, settings, content, out }) => {
    if (out === undefined) return content;
    const use = format === 'clickhouse-client' ? `clickhouse-client --config-file ${out}` : format === 'env' ? `. ${out}` : format === 'curl' ? `curl $(cat ${out}) --data-binary 'SELECT 1'` : `jq . ${out}`;
    return `wrote ${out} (0600; request ${settings.requestId}, valid until ${settings.notAfter})\nuse: ${use}\n`;
  },
});

async function rendered(format: EnvFormat, settings: ClientSettings): Promise<string> {
  const build = await import('../../src/clickhouse/client-settings.js');
  switch (format) {
    case 'env':
      return build.environmentScript(settings);
    case 'curl':
      return build.curlLine(settings);
    case 'clickhouse-client':
      return build.clickhouseClientConfig(settings);
    case 'json':
      return `${JSON.stringify(document(settings), null, 2)}\n`;
  }
}

/** The machine twin: every value the other formats are made of. */
function document(settings: ClientSettings) {
  return {
    service: settings.service,
    requestId: settings.requestId,
    notAfter: settings.notAfter,
    url: settings.url,
    user: settings.serverUser,
    certFile: settings.certFile,
    keyFile: settings.keyFile,
    serverCaFile: settings.serverCaFile ?? null,
    resolve: settings.route.address ? { host: settings.route.host, port: settings.route.port, address: settings.route.address } : null,
    proxy: settings.route.proxy?.url ?? null,
    headers: { 'X-ClickHouse-User': settings.serverUser, 'X-ClickHouse-SSL-Certificate-Auth': 'on' },
    native: settings.native,
  };
}
