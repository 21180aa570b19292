import type { Agent, IncomingMessage } from 'node:http';
import type { Context } from '../context.js';
import { readAtMost } from '../util/stream.js';
import { agentFor } from './agents.js';

/** What openid-client (oauth4webapi's customFetch) hands a fetch: always a manual redirect, a small body. */
export interface NetworkFetchOptions {
  method: string;
  headers: Record<string, string>;
  body?: string | URLSearchParams | Uint8Array | null | undefined;
  signal?: AbortSignal | undefined;
  redirect?: 'manual';
}

/** Enough for any discovery document, token or error an identity provider sends; a larger answer is refused. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * A Fetch API function on byoc's network layer (network.proxy, the resolve overrides, the environment's proxies
 * and NO_PROXY, TLS verification on), for libraries that accept a custom fetch: openid-client for the CLI's sign-in.
 * Node's own fetch (undici) takes none of those settings, so an identity provider reached through the tailnet's
 * proxy, or by a name only network.resolve knows, would be out of reach. One agent per origin, reused.
 */
export function networkFetch(ctx: Context): (url: string, options: NetworkFetchOptions) => Promise<Response> {
  const agents = new Map<string, Promise<Agent>>();
  return async (url, options) => {
    const target = new URL(url);
    let agent = agents.get(target.origin);
    if (!agent) {
      agent = agentFor(ctx, target, { keepAlive: true });
      agents.set(target.origin, agent);
    }
    const via = await agent;
    const { request } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const body = options.body === undefined || options.body === null ? undefined : typeof options.body === 'string' ? options.body : options.body instanceof URLSearchParams ? options.body.toString() : Buffer.from(options.body);
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const sent = request(target, { method: options.method, headers: options.headers, agent: via, signal: options.signal });
      sent.once('response', resolve);
      sent.once('error', reject);
      sent.end(body);
    });
    const received = await readAtMost(answer as AsyncIterable<Buffer>, MAX_ANSWER_BYTES);
    if (!received) {
      answer.destroy();
      throw new Error(`${target.origin} answered more than ${MAX_ANSWER_BYTES} bytes`);
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
    }
    const status = answer.statusCode ?? 0;
    // A Response may not carry a body for these statuses (the constructor throws).
    const empty = status === 204 || status === 205 || status === 304;
    return new Response(empty ? null : new Uint8Array(received), { status, statusText: answer.statusMessage ?? '', headers });
  };
}
