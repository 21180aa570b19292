import type { Agent } from 'node:http';
import type { AttemptResult } from './queue.js';

export interface PostOptions {
  agent?: Agent;
  timeoutMs: number;
  signal: AbortSignal;
}

/** A POST through node's http(s) and the network layer's agent (proxy, resolve overrides, a configured CA). */
export async function post(url: URL, headers: Record<string, string>, body: string, options: PostOptions): Promise<AttemptResult> {
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<AttemptResult>((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        ...(options.agent ? { agent: options.agent } : {}),
        signal: options.signal,
        timeout: options.timeoutMs,
      },
      (res) => {
        let answer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          // enough to say what went wrong; a receiver's whole error page is not
          if (answer.length < 200) answer += chunk;
        });
        res.on('error', (error) => resolve({ ok: false, retry: true, problem: error.message }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const said = answer.trim().replace(/\s+/g, ' ').slice(0, 120);
          if (status >= 200 && status < 300) resolve({ ok: true, detail: `HTTP ${status}` });
          // 408 and 429 say "later"; other 4xx are the receiver refusing this delivery (a wrong URL, a bad signature)
          else {
            const retryAfterMs = retryAfter(res.headers['retry-after']);
            resolve({ ok: false, retry: status >= 500 || status === 408 || status === 429, problem: `HTTP ${status}${said ? ` ${said}` : ''}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs / 1000}s`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, retry: true, problem: error.code && !error.message.includes(error.code) ? `${error.code}: ${error.message}` : error.message }));
    req.end(body);
  });
}

/** Retry-After in its delay-seconds form (what Slack and most receivers send); the HTTP-date form is left to the backoff. */
function retryAfter(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) * 1000 : undefined;
}
