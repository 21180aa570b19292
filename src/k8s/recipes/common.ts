import { formatCoarse, formatDuration } from '../../util/duration.js';
import type { ClusterResource, ClusterReader, ListOptions } from '../cluster-reader.js';
import { ForbiddenError } from '../errors.js';
import {
  eventCount,
  eventTime,
  millis,
  type ContainerStatus,
  type KubeEvent,
  type ObjectMeta,
  type Pod,
} from '../objects.js';

export type DiagnosticArea = 'volumes' | 'nodes' | 'health';

/** Something a recipe found wrong. A recipe that finds nothing gets one PASS row from the runner. */
export interface Finding {
  status: 'WARN' | 'FAIL';
  object: string;
  evidence: string;
  hint: string;
  kubectl: string;
}

interface RecipeResult {
  findings: Finding[];
  /** What was looked at, shown as the PASS evidence when nothing was found. */
  checked: string;
}

export interface Recipe {
  id: string;
  area: DiagnosticArea;
  /** What to run to look at the same thing by hand (used on PASS rows). */
  kubectl: string;
  run(context: RecipeContext): Promise<RecipeResult>;
}

/**
 * What recipes see: one shared, memoized fetch per (resource, namespace, selector), so several recipes
 * reading all pods cost one API call.
 */
export class RecipeContext {
  private readonly cache = new Map<string, Promise<unknown[]>>();

  constructor(
    readonly reader: ClusterReader,
    readonly now: Date,
    /** Event window in ms. */
    readonly since: number,
  ) {}

  get nowMs(): number {
    return this.now.getTime();
  }

  get sinceLabel(): string {
    return `the last ${formatDuration(this.since)}`;
  }

  /** Throws ForbiddenError: the runner turns it into a SKIPPED row for the recipe. */
  list<T>(resource: ClusterResource, namespace?: string, options?: ListOptions): Promise<T[]> {
    const key = JSON.stringify([resource, namespace ?? null, options?.fieldSelector ?? null, options?.labelSelector ?? null]);
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.reader.list(resource, namespace, options).then((list) => list.items ?? []);
      // Stored rejections are awaited by every caller; this keeps an unused one from being "unhandled".
      pending.catch(() => undefined);
      this.cache.set(key, pending);
    }
    return pending as Promise<T[]>;
  }

  /** For data that only refines a recipe: undefined when RBAC forbids it. */
  async optional<T>(resource: ClusterResource, namespace?: string, options?: ListOptions): Promise<T[] | undefined> {
    try {
      return await this.list<T>(resource, namespace, options);
    } catch (error) {
      if (error instanceof ForbiddenError) return undefined;
      throw error;
    }
  }

  /** Warning events whose last occurrence falls inside the window (undated ones count as recent). */
  async warnings(): Promise<KubeEvent[]> {
    const events = await this.list<KubeEvent>('events', undefined, { fieldSelector: 'type=Warning' });
    const from = this.nowMs - this.since;
    return events.filter((event) => event.type === 'Warning' && (eventTime(event) ?? this.nowMs) >= from);
  }

  /** Warning events, or undefined when RBAC forbids listing events. */
  async optionalWarnings(): Promise<KubeEvent[] | undefined> {
    try {
      return await this.warnings();
    } catch (error) {
      if (error instanceof ForbiddenError) return undefined;
      throw error;
    }
  }

  ago(time: number | undefined): string {
    if (time === undefined) return 'at an unknown time';
    const elapsed = this.nowMs - time;
    return elapsed < 1000 ? 'just now' : `${formatCoarse(elapsed)} ago`;
  }

  /** `for 14m` since a transition time. */
  lasting(time: number | undefined): string {
    return time === undefined ? 'for an unknown time' : `for ${formatCoarse(Math.max(0, this.nowMs - time))}`;
  }

  age(meta: ObjectMeta | undefined): number | undefined {
    const created = millis(meta?.creationTimestamp);
    return created === undefined ? undefined : this.nowMs - created;
  }
}

/**
 * Where the cause starts in a long error: the AWS SDK v2 wrapper (`… api error UnauthorizedOperation: …`)
 * or an EC2 error code (`InvalidVolume.NotFound: `, `VolumeInUse: `). CamelCase with two humps or more, so
 * gRPC's `code = Internal desc =` is not taken for one.
 */
const CAUSE_ANCHORS = [/api error /, /\b[A-Z][a-z]+(?:[A-Z][a-z]*)+(?:\.[A-Z][A-Za-z]+)?: /];

/**
 * Cuts a message to one line for a table cell. The cause may sit anywhere in a long message (`… could not
 * create volume in EC2: InvalidVolume.NotFound: …`, `… add cmd: failed to assign an IP address to
 * container`), so a long one keeps its start and a tail from `focus` (the text a hint was chosen for),
 * else from its cause anchor, else its end.
 */
export function oneLine(text: string | undefined, max = 200, focus?: string): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const head = Math.floor(max / 3);
  const at = focus ? flat.indexOf(focus.replace(/\s+/g, ' ').trim()) : -1;
  if (at >= 0 && at + (focus?.length ?? 0) < max - 1) return `${flat.slice(0, max - 1)}…`;
  const cause = at > head ? at - head : CAUSE_ANCHORS.map((anchor) => anchor.exec(flat.slice(head))?.index).find((index) => index !== undefined);
  if (cause !== undefined) {
    const tail = flat.slice(head + cause);
    return `${flat.slice(0, head)}… ${tail.length > max - head - 2 ? `${tail.slice(0, max - head - 3)}…` : tail}`;
  }
  return `${flat.slice(0, head)}… ${flat.slice(flat.length - (max - head - 2))}`;
}

export interface EventGroup {
  kind: string;
  namespace: string | undefined;
  name: string;
  reason: string;
  count: number;
  last: number | undefined;
  message: string;
  host: string | undefined;
}

/** Events aggregated per (object, reason), newest message kept, counts summed, newest first. */
export function groupEvents(events: KubeEvent[]): EventGroup[] {
  const groups = new Map<string, EventGroup>();
  for (const event of events) {
    const involved = event.involvedObject ?? {};
    const key = [involved.kind, involved.namespace, involved.name, event.reason].join('\u0000');
    const time = eventTime(event);
    const group = groups.get(key);
    if (!group) {
      groups.set(key, {
        kind: involved.kind ?? 'Object',
        namespace: involved.namespace || undefined,
        name: involved.name ?? '<unnamed>',
        reason: event.reason ?? '',
        count: eventCount(event),
        last: time,
        message: event.message ?? '',
        host: event.source?.host,
      });
      continue;
    }
    group.count += eventCount(event);
    if ((time ?? 0) >= (group.last ?? 0)) {
      group.last = time;
      group.message = event.message ?? group.message;
      group.host = event.source?.host ?? group.host;
    }
  }
  return [...groups.values()].sort((a, b) => (b.last ?? 0) - (a.last ?? 0));
}

/** `focus`: the part of the message the verdict rests on, kept visible when the message is cut. */
export function eventEvidence(group: EventGroup, context: RecipeContext, focus?: string): string {
  const times = group.count === 1 ? 'once' : `${group.count}×`;
  return `${group.reason} ${times}, last ${context.ago(group.last)}: ${oneLine(group.message, 200, focus)}`;
}

/** `pod/ns/name`, `node/name`: the object column. */
export function objectRef(kind: string, name: string, namespace?: string): string {
  return `${kind.toLowerCase()}/${namespace ? `${namespace}/` : ''}${name}`;
}

export function describe(kind: string, name: string, namespace?: string): string {
  return `kubectl describe ${kind.toLowerCase()} ${name}${namespace ? ` -n ${namespace}` : ''}`;
}

/** The kubectl command for an event's object: describe shows its events too. */
export function describeEventObject(group: EventGroup): string {
  if (['Pod', 'Node', 'PersistentVolumeClaim', 'PersistentVolume', 'Deployment', 'StatefulSet', 'DaemonSet'].includes(group.kind)) {
    return describe(group.kind, group.name, group.namespace);
  }
  const scope = group.namespace ? ` -n ${group.namespace}` : ' -A';
  return `kubectl get events${scope} --field-selector involvedObject.name=${group.name},reason=${group.reason}`;
}

/** A hint, or one built from what the pattern captured (e.g. the driver named in the message). */
export type HintRule = [RegExp, string | ((match: RegExpExecArray) => string)];

/** The first rule whose pattern matches: its hint, and the matched text (the cause to keep in evidence). */
export function matchRule(message: string, table: HintRule[]): { hint: string; focus: string } | undefined {
  for (const [pattern, hint] of table) {
    const match = pattern.exec(message);
    if (match) return { hint: typeof hint === 'string' ? hint : hint(match), focus: match[0] };
  }
  return undefined;
}

/** The first hint whose pattern matches the message, else the fallback. */
export function hintFor(message: string, table: HintRule[], fallback: string): string {
  return matchRule(message, table)?.hint ?? fallback;
}

const BAD_WAITING = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
]);

const HIGH_RESTARTS = 5;

export interface ContainerProblem {
  container: string;
  severity: 'WARN' | 'FAIL';
  reason: string;
  text: string;
}

function lastExit(status: ContainerStatus): string {
  const terminated = status.lastState?.terminated ?? status.state?.terminated;
  if (!terminated) return '';
  const code = terminated.exitCode === undefined ? '' : ` (exit ${terminated.exitCode})`;
  return `, last exit ${terminated.reason ?? 'unknown'}${code}`;
}

/** What is wrong with a pod's containers: bad waiting states, not ready while running, many restarts. */
export function containerProblems(pod: Pod): ContainerProblem[] {
  const problems: ContainerProblem[] = [];
  const running = pod.status?.phase === 'Running';
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((status) => ({ status, init: true })),
    ...(pod.status?.containerStatuses ?? []).map((status) => ({ status, init: false })),
  ];
  for (const { status, init } of statuses) {
    const container = status.name ?? '<container>';
    const restarts = status.restartCount ?? 0;
    const waiting = status.state?.waiting?.reason;
    if (waiting && BAD_WAITING.has(waiting)) {
      const detail = waiting.includes('Image') || waiting.includes('Config') ? `: ${oneLine(status.state?.waiting?.message, 120)}` : '';
      problems.push({
        container,
        severity: 'FAIL',
        reason: waiting,
        text: `container ${container} ${waiting}, ${restarts} restarts${lastExit(status)}${detail}`,
      });
    } else if (running && !init && status.ready === false) {
      problems.push({ container, severity: 'FAIL', reason: 'NotReady', text: `container ${container} not ready, ${restarts} restarts${lastExit(status)}` });
    } else if (restarts >= HIGH_RESTARTS) {
      problems.push({ container, severity: 'WARN', reason: 'Restarts', text: `container ${container} restarted ${restarts} times${lastExit(status)}` });
    }
  }
  return problems;
}

/** Hint for a container problem, from the reason and the last exit. */
export function containerHint(pod: Pod, problem: ContainerProblem): string {
  const status = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find(
    (candidate) => candidate.name === problem.container,
  );
  if (status?.lastState?.terminated?.reason === 'OOMKilled') {
    return 'It is killed for exceeding its memory limit: raise the limit or find what grows (kubectl top pod).';
  }
  switch (problem.reason) {
    case 'ImagePullBackOff':
    case 'ErrImagePull':
    case 'InvalidImageName':
      return 'The image cannot be pulled: check the image name and tag, registry credentials, and that nodes reach the registry (NAT gateway or VPC endpoints).';
    case 'CreateContainerConfigError':
      return 'A ConfigMap, Secret or key the container references is missing: read the message in kubectl describe pod.';
    case 'NotReady':
      return 'Its readiness probe fails: read the container log and the probe settings.';
    default:
      return 'Read the previous container log for the crash reason (the --previous log is the one that died).';
  }
}

/** The log to read: the previous instance's when the container has restarted (that one holds the crash). */
export function logsCommand(pod: Pod, container: string): string {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const restarted = (statuses.find((status) => status.name === container)?.restartCount ?? 0) > 0;
  return `kubectl logs ${pod.metadata?.name ?? ''} -n ${pod.metadata?.namespace ?? 'default'} -c ${container}${restarted ? ' --previous' : ''}`;
}

export function podIsHealthy(pod: Pod): boolean {
  if (pod.status?.phase !== 'Running') return false;
  return (pod.status.containerStatuses ?? []).every((status) => status.ready !== false);
}
