import type { Clock } from '../context.js';
import { isAbort, NotAllowedError, RemoteError } from '../errors.js';
import { formatCoarse } from '../util/duration.js';
import type { BrokerClient } from './client.js';
import { refusalFor } from './credentials.js';

/** Before the grant's end, the moments a long-running session (shell, proxy) tells the engineer: 10 and 2 minutes. */
export const GRANT_WARNINGS_MS = [10 * 60_000, 2 * 60_000] as const;
/** How often the broker is asked whether the grant still stands (a revocation ends the session within this). */
const POLL_MS = 15_000;

export interface GrantWatchOptions {
  service: string;
  requestId: string;
  /** when the grant (or the certificate, if sooner) ends, in ms since the epoch */
  endsAt: number;
  clock: Clock;
  broker: () => Promise<Pick<BrokerClient, 'get' | 'location'>>;
  /** said once per mark of GRANT_WARNINGS_MS still ahead (and once at once when already inside the first) */
  onWarning(message: string, leftMs: number): void;
  /** the broker could not be asked; the session goes on (the server still refuses a revoked certificate) */
  onUnreachable?(message: string): void;
  signal: AbortSignal;
  pollMs?: number;
}

export interface GrantWatch {
  /** the reason the session must end (expired or revoked), or undefined once stopped or aborted */
  readonly ended: Promise<NotAllowedError | undefined>;
  remainingMs(): number;
  stop(): void;
}

/**
 * Watches one grant for a session that outlives a single query: warns before its end, and ends it at its end or
 * on revocation. The server refuses an expired or revoked certificate by itself (nginx's CRL and the
 * certificate's end); this is what lets byoc say so before a query fails, and close what it opened locally.
 */
export function watchGrant(options: GrantWatchOptions): GrantWatch {
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, options.signal]);
  const pollMs = options.pollMs ?? POLL_MS;
  const now = () => options.clock.now().getTime();
  const ended = (async (): Promise<NotAllowedError | undefined> => {
    const left = options.endsAt - now();
    let marks = GRANT_WARNINGS_MS.filter((mark) => mark < left);
    if (marks.length < GRANT_WARNINGS_MS.length && left > 0) options.onWarning(warning(options, left), left);
    let nextPoll = now() + pollMs;
    let unreachableSaid = false;
    try {
      for (;;) {
        const at = now();
        if (at >= options.endsAt) return expired(options);
        const nextMark = marks.length ? options.endsAt - marks[0]! : Infinity;
        const next = Math.min(nextMark, nextPoll, options.endsAt);
        if (next > at) await options.clock.sleep(next - at, signal);
        const reached = now();
        if (reached >= options.endsAt) return expired(options);
        if (marks.length && reached >= nextMark) {
          const leftNow = options.endsAt - reached;
          // several marks passed at once (a suspended laptop): the nearest one is what matters
          marks = marks.filter((mark) => mark < leftNow);
          options.onWarning(warning(options, leftNow), leftNow);
        }
        if (reached >= nextPoll) {
          nextPoll = reached + pollMs;
          try {
            const broker = await options.broker();
            const request = await broker.get(options.requestId);
            const refusal = refusalFor(options.service, { requestId: options.requestId, status: request.status, ...(request.revokedBy ? { revokedBy: request.revokedBy } : {}), ...(request.revokedAt ? { revokedAt: request.revokedAt } : {}) }, broker.location);
            if (refusal) return refusal;
            unreachableSaid = false;
          } catch (error) {
            if (isAbort(error)) throw error;
            if (error instanceof NotAllowedError) return error;
            if (error instanceof RemoteError && !unreachableSaid) {
              unreachableSaid = true;
              options.onUnreachable?.(`cannot ask the broker whether ${options.requestId} still stands: ${error.message}; going on until it answers`);
            } else if (!(error instanceof RemoteError)) throw error;
          }
        }
      }
    } catch (error) {
      if (isAbort(error) || signal.aborted) return undefined;
      throw error;
    }
  })();
  return {
    ended,
    remainingMs: () => Math.max(0, options.endsAt - now()),
    stop: () => controller.abort(),
  };
}

function warning(options: GrantWatchOptions, leftMs: number): string {
  return `your access to ${options.service} (${options.requestId}) ends in ${formatCoarse(leftMs)}; request more time with: byoc access request ${options.service} --reason "..."`;
}

function expired(options: GrantWatchOptions): NotAllowedError {
  return new NotAllowedError('grant_ended', `your access to ${options.service} (${options.requestId}) ended at ${new Date(options.endsAt).toISOString()}`, {
    hint: `Request access again if you still need it: byoc access request ${options.service} --reason "..."`,
  });
}
