import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Agent } from 'node:http';
import path from 'node:path';
import type { AccessRequest } from '../access/types.js';
import type { Configuration } from '../config/configuration.js';
import type { Context } from '../context.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { post } from './http.js';
import { noticeOf, slackMessage, webhookDocument, type DecisionEvent, type Notice } from './message.js';
import { notifyPlan, targetsFor, type NotifyPlan, type NotifyTarget } from './plan.js';
import { DeliveryQueue, type QueueOptions } from './queue.js';

/** expiring-soon is sent this long before a grant ends. */
export const EXPIRING_SOON_MS = 10 * 60_000;
/**
 * The served broker's timer tells of what happened while it was down, but not of older things: an ended grant
 * from yesterday is history, not news (and enabling notifications on an old store must not send its past).
 */
export const CATCH_UP_MS = 60 * 60_000;
/** An attempt that gets no answer within this is a failure (and retried). */
const ATTEMPT_TIMEOUT_MS = 10_000;

export interface NotifierDeps {
  plan: NotifyPlan;
  queue: QueueOptions;
  /** where the timer's sent keys are kept (the served broker); absent: the timer is not used */
  stateDir?: string;
  userAgent: string;
  agentFor?: (url: URL) => Promise<Agent | undefined>;
}

/**
 * Tells the configured targets about requests: decisions as the broker commits them (publish), and what time
 * does (tick: expiring-soon and lapsed, from the served broker's timer). Never blocks or fails a decision:
 * publish only queues.
 */
export class Notifier {
  private readonly queue: DeliveryQueue;
  private sent: Map<string, string> | undefined;
  /** with a store's claim: the notices this replica has seen claimed (by itself or another), so it asks once */
  private claimed: Map<string, string> | undefined;

  constructor(private readonly deps: NotifierDeps) {
    this.queue = new DeliveryQueue(deps.queue);
  }

  /** The broker's hook: after the decision is committed. */
  publish(event: DecisionEvent, request: AccessRequest): void {
    this.send(noticeOf(event, request));
  }

  /**
   * The timer's events for the requests the served broker holds. Each is sent once, even across restarts: its key
   * (`expiring-soon:<id>`, `lapsed:<id>`) is written to <state>/notify/sent.json before it is queued. With `claim`
   * (replicas on one PostgreSQL store), the store decides instead: only the replica whose claim wins sends it.
   */
  async tick(requests: Iterable<AccessRequest>, claim?: (keys: readonly string[]) => Promise<Set<string>>): Promise<void> {
    const now = this.deps.queue.now();
    const sent = claim ? (this.claimed ??= new Map()) : await this.sentKeys();
    const due: Notice[] = [];
    for (const request of requests) {
      const notice = timerNotice(request, now);
      if (!notice) continue;
      const key = `${notice.event}:${request.id}`;
      if (sent.has(key)) continue;
      sent.set(key, notice.at);
      due.push(notice);
    }
    // forgotten once no timer could raise them again (they are older than the catch-up window)
    let pruned = false;
    for (const [key, at] of sent) {
      if (Date.parse(at) < now - 2 * CATCH_UP_MS) pruned = sent.delete(key);
    }
    if (claim) {
      if (due.length === 0) return;
      let won: Set<string>;
      try {
        won = await claim(due.map((notice) => `${notice.event}:${notice.request.id}`));
      } catch (error) {
        // not sent rather than sent twice: the next tick claims them again
        for (const notice of due) sent.delete(`${notice.event}:${notice.request.id}`);
        this.deps.queue.log.warn(`notify: could not claim the timer's notifications in the store (${(error as Error).message}); trying again at the next tick`);
        return;
      }
      for (const notice of due) if (won.has(`${notice.event}:${notice.request.id}`)) this.send(notice);
      return;
    }
    if (due.length === 0 && !pruned) return;
    try {
      await writePrivateFile(this.sentFile(), `${JSON.stringify({ version: 1, sent: Object.fromEntries(sent) })}\n`);
    } catch (error) {
      this.deps.queue.log.warn(`notify: could not remember the notifications sent (${(error as Error).message}); after a restart they may be sent again`);
    }
    for (const notice of due) this.send(notice);
  }

  /** Waits for the deliveries under way, at most `timeoutMs`, then gives up the rest (logged). */
  async close(timeoutMs: number): Promise<void> {
    if (!(await this.queue.drain(timeoutMs))) this.deps.queue.log.warn(`notify: ${this.queue.size} notification(s) still undelivered after ${timeoutMs / 1000}s; giving them up`);
    await this.queue.close();
  }

  private send(notice: Notice): void {
    for (const target of targetsFor(this.deps.plan, notice.request.service, notice.event)) {
      this.queue.enqueue({ label: `${notice.event} ${notice.request.id} to ${target.name}`, attempt: this.attemptFor(target, notice) });
    }
  }

  private attemptFor(target: NotifyTarget, notice: Notice): (signal: AbortSignal) => ReturnType<typeof post> {
    // the same body and delivery id on every attempt, so a receiver can tell a retry from a new notice
    const deliveryId = randomUUID();
    const body = JSON.stringify(target.kind === 'slack' ? slackMessage(notice, this.deps.plan.reviewUrl) : webhookDocument(notice, deliveryId, this.deps.plan.reviewUrl));
    return async (signal) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': this.deps.userAgent };
      if (target.kind === 'webhook') {
        // signed afresh on each attempt: the timestamp is when it was sent, which the receiver holds against replays
        const timestamp = String(Math.floor(this.deps.queue.now() / 1000));
        Object.assign(headers, {
          'x-byoc-event': notice.event,
          'x-byoc-delivery': deliveryId,
          'x-byoc-timestamp': timestamp,
          'x-byoc-signature': `sha256=${signature(target.secret!, timestamp, body)}`,
        });
      }
      const agent = await this.deps.agentFor?.(target.url);
      return post(target.url, headers, body, { timeoutMs: ATTEMPT_TIMEOUT_MS, signal, ...(agent ? { agent } : {}) });
    };
  }

  private sentFile(): string {
    if (!this.deps.stateDir) throw new Error('the notification timer needs the state folder');
    return path.join(this.deps.stateDir, 'notify', 'sent.json');
  }

  private async sentKeys(): Promise<Map<string, string>> {
    if (this.sent) return this.sent;
    let text: string | undefined;
    try {
      text = await readFile(this.sentFile(), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.deps.queue.log.warn(`notify: cannot read ${this.sentFile()} (${(error as Error).message}); notifications of the last hour may be sent again`);
    }
    const found = new Map<string, string>();
    try {
      const parsed = text ? (JSON.parse(text) as { sent?: Record<string, unknown> }) : {};
      for (const [key, at] of Object.entries(parsed.sent ?? {})) if (typeof at === 'string') found.set(key, at);
    } catch {
      this.deps.queue.log.warn(`notify: ${this.sentFile()} is not JSON; notifications of the last hour may be sent again`);
    }
    this.sent = found;
    return found;
  }
}

/** `hex(HMAC-SHA256(secret, "<timestamp>.<body>"))`, the X-Byoc-Signature scheme (README, "Notifications"). */
function signature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * What time has made of a request at `now`, if anything to tell:
 * - expiring-soon: an approved grant with at most EXPIRING_SOON_MS left (not for a grant that short to begin with:
 *   its approval already said when it ends);
 * - lapsed `ended`: an approved grant that reached its end unrevoked, within the catch-up window;
 * - lapsed `unreviewed`: a request still pending at its pendingUntil, within the catch-up window.
 */
export function timerNotice(request: AccessRequest, now: number): Notice | undefined {
  if (request.status === 'approved' && request.notAfter && request.approvedAt) {
    const end = Date.parse(request.notAfter);
    const warnAt = end - EXPIRING_SOON_MS;
    if (now >= warnAt && Date.parse(request.approvedAt) < warnAt) return { event: 'expiring-soon', request, at: new Date(warnAt).toISOString() };
    return undefined;
  }
  if (request.status !== 'expired') return undefined;
  const lapse = request.notAfter ? 'ended' : 'unreviewed';
  const at = request.notAfter ?? request.pendingUntil;
  if (now - Date.parse(at) > CATCH_UP_MS) return undefined;
  return { event: 'lapsed', request, at, lapse };
}

/** How long a command on the embedded broker waits, at most, for its notifications before it exits. */
export const EMBEDDED_WAIT_MS = 10_000;

/**
 * The notifier for this process, or undefined when the configuration names no target. `served`: the broker's
 * deliveries run for as long as it serves, and its timer sends expiring-soon and lapsed. `embedded`: a command's
 * decision is delivered by that command, which exits at most EMBEDDED_WAIT_MS (plus one attempt) later.
 */
export async function createNotifier(ctx: Context, configuration: Configuration, mode: 'served' | 'embedded'): Promise<Notifier | undefined> {
  const plan = await notifyPlan(configuration, ctx.env);
  if (!plan) return undefined;
  const { isLoopback } = await import('../access/listen.js');
  for (const target of plan.targets.values()) {
    // the signature proves who sent it, but a request's reason and ticket would still cross the network in clear
    if (target.url.protocol === 'http:' && !isLoopback(target.url.hostname.replace(/^\[|\]$/g, ''))) {
      ctx.log.warn(`notify.targets.${target.name}: ${target.url.host} is plain HTTP; requests' reasons and tickets cross the network in clear (use https://)`);
    }
  }
  const agents = new Map<string, Promise<Agent>>();
  return new Notifier({
    plan,
    queue: {
      sleep: (ms, signal) => ctx.clock.sleep(ms, signal),
      now: () => ctx.clock.now().getTime(),
      log: ctx.log,
      ...(mode === 'embedded' ? { deadlineMs: EMBEDDED_WAIT_MS } : {}),
    },
    ...(mode === 'served' ? { stateDir: ctx.stateDir() } : {}),
    userAgent: `byoc/${ctx.version}`,
    agentFor: (url) => {
      // one agent per origin, through the network layer: a proxy, resolve overrides and a configured CA apply
      let agent = agents.get(url.origin);
      if (!agent) {
        agent = import('../net/agents.js').then(({ agentFor }) => agentFor(ctx, url));
        agents.set(url.origin, agent);
      }
      return agent;
    },
  });
}
