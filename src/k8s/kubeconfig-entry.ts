import net from 'node:net';
import type { ExecEnvVar, KubeconfigEntry } from './kubeconfig.js';
import { normalizeHost } from '../net/network.js';

export interface EntryInput {
  service: string;
  /** context, cluster and user name */
  contextName: string;
  server: string;
  caPem?: string | undefined;
  tlsServerName?: string | undefined;
  /** `network.proxy` */
  proxy?: string | undefined;
  /** `network.resolve` (configured and registered) */
  resolve: Readonly<Record<string, string>>;
  /** how kubectl runs this byoc: absolute node binary and script */
  self: { node: string; script: string };
  /** what the plugin needs to find the same state and configuration */
  env: ExecEnvVar[];
}

export interface EntryPlan {
  entry: KubeconfigEntry;
  /** the server as written (differs from the configured one when a resolve override applies) */
  server: string;
  /** things the user should know about how the entry differs from the configuration */
  notes: string[];
}

/**
 * The kubeconfig entry for a service, written so kubectl reaches the server the way byoc does:
 * - kubectl knows nothing of byoc's `network.resolve`, so an overridden host is written as its IP with
 *   `tls-server-name` keeping the original name: the certificate is still checked against the name, and
 *   no /etc/hosts entry is needed. Through a proxy this is byoc's rule too (an override beats the proxy's
 *   own resolution).
 * - kubectl accepts proxy-url schemes http, https and socks5 only. Its socks5 already hands the name to
 *   the proxy unresolved, which is what byoc's socks5h means, so socks5h is written as socks5.
 * - The user entry is an exec plugin running this byoc by absolute path, so it works without byoc on PATH.
 */
export function planKubeconfigEntry(input: EntryInput): EntryPlan {
  const notes: string[] = [];
  const url = new URL(input.server);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let server = input.server;
  let tlsServerName = input.tlsServerName;
  const override = Object.entries(input.resolve).find(([name]) => normalizeHost(name) === normalizeHost(host))?.[1];
  if (override && !net.isIP(host)) {
    url.hostname = net.isIPv6(override) ? `[${override}]` : override;
    server = url.href.replace(/\/$/, input.server.endsWith('/') ? '/' : '');
    tlsServerName ??= host;
    notes.push(`${host} resolves through network.resolve to ${override}; kubectl cannot use byoc's overrides, so the kubeconfig names the server ${server} and checks its certificate against ${tlsServerName} (tls-server-name)`);
  }
  let proxyUrl = input.proxy;
  if (proxyUrl?.startsWith('socks5h://')) {
    proxyUrl = `socks5://${proxyUrl.slice('socks5h://'.length)}`;
    notes.push('kubectl does not accept socks5h:// proxy URLs; wrote socks5:// (kubectl sends host names to a SOCKS5 proxy unresolved, as socks5h does)');
  }
  const entry: KubeconfigEntry = {
    contextName: input.contextName,
    clusterName: input.contextName,
    userName: input.contextName,
    cluster: {
      server,
      ...(input.caPem ? { certificateAuthorityData: Buffer.from(input.caPem).toString('base64') } : {}),
      ...(tlsServerName ? { tlsServerName } : {}),
      ...(proxyUrl ? { proxyUrl } : {}),
    },
    user: {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: input.self.node,
        args: [input.self.script, 'kube-credential', input.service],
        ...(input.env.length > 0 ? { env: input.env } : {}),
        interactiveMode: 'Never',
      },
    },
  };
  return { entry, server, notes };
}

/** The context kubectl currently uses in a kubeconfig text, if any (no validation: the merge does that). */
export function currentContextOf(text: string | undefined, parse: (text: string) => unknown): string | undefined {
  if (!text) return undefined;
  try {
    const document = parse(text) as { 'current-context'?: unknown } | null;
    const current = document?.['current-context'];
    return typeof current === 'string' && current !== '' ? current : undefined;
  } catch {
    return undefined;
  }
}
