import type { Agent } from 'node:http';
import type { Context } from '../context.js';

/**
 * The agent for a remote call, from the network configuration (proxy, resolve overrides).
 * Placeholder until the network layer lands: direct connections with default TLS verification.
 */
export async function agentFor(_ctx: Context, _url: URL): Promise<Agent | undefined> {
  return undefined;
}
