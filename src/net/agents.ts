import type { Agent } from 'node:http';
import type { Context } from '../context.js';
import type { ConnectionOptions, NetworkOptions } from './network.js';

/** The network settings for this invocation: proxy, resolve overrides (configured and registered), environment. */
export async function networkOptions(ctx: Context): Promise<NetworkOptions> {
  const configuration = await ctx.config();
  return {
    proxy: configuration.get<string>('network.proxy'),
    resolve: configuration.resolveOverrides(),
    env: ctx.env,
  };
}

/** The agent every remote call uses: proxy, resolve overrides, and TLS options that keep verification on. */
export async function agentFor(ctx: Context, url: URL, connection: ConnectionOptions = {}): Promise<Agent> {
  const { createAgent } = await import('./network.js');
  return createAgent(url, await networkOptions(ctx), connection);
}

/**
 * The agent for a served broker at `url`: agentFor's, trusting broker.caFile (BYOC_BROKER_CA) and the certificate
 * pinned for this URL's origin by `byoc broker trust`, besides the system's roots when neither is set.
 */
export async function brokerAgentFor(ctx: Context, url: URL): Promise<Agent> {
  const { brokerConnection } = await import('./broker-trust.js');
  return agentFor(ctx, url, await brokerConnection(ctx, url));
}
