import { formatCoarse, formatDuration } from '../../util/duration.js';
import type { ServerVersion } from '../cluster-reader.js';
import { ForbiddenError } from '../errors.js';
import {
  conditionOf,
  millis,
  nameOf,
  type DaemonSet,
  type Deployment,
  type Node,
  type Pod,
  type StatefulSet,
} from '../objects.js';
import {
  containerHint,
  containerProblems,
  describe,
  describeEventObject,
  eventEvidence,
  groupEvents,
  hintFor,
  logsCommand,
  objectRef,
  oneLine,
  type Finding,
  type Recipe,
} from './common.js';

export interface ReadyzCheck {
  name: string;
  ok: boolean;
  /** What follows the name, e.g. `failed: reason withheld`. */
  detail: string;
}

/** Parses the `[+]name ok` / `[-]name failed: …` lines of `/readyz?verbose` (or `/livez?verbose`). */
export function parseReadyz(body: string): ReadyzCheck[] {
  const checks: ReadyzCheck[] = [];
  for (const line of body.split(/\r?\n/)) {
    const match = /^\[([+-])\](\S+)\s*(.*)$/.exec(line.trim());
    if (match) checks.push({ name: match[2]!, ok: match[1] === '+', detail: match[3] ?? '' });
  }
  return checks;
}

const READYZ_PATH = '/readyz?verbose';

const readyz: Recipe = {
  id: 'health.readyz',
  area: 'health',
  kubectl: `kubectl get --raw '${READYZ_PATH}'`,
  async run(context) {
    const response = await context.reader.raw(READYZ_PATH);
    if (response.status === 401 || response.status === 403) {
      throw new ForbiddenError('/readyz', undefined, { verb: 'get' });
    }
    const checks = parseReadyz(response.body);
    const failing = checks.filter((check) => !check.ok);
    const findings: Finding[] = failing.map((check) => ({
      status: 'FAIL',
      object: `readyz/${check.name}`,
      evidence: `[-]${check.name} ${oneLine(check.detail)} (HTTP ${response.status})`,
      hint: check.name.startsWith('etcd')
        ? 'The API server cannot reach etcd: on EKS the control plane is managed by AWS, so check the cluster health in the EKS console and open an AWS support case if it persists.'
        : 'An API server readiness check fails: on EKS the control plane is managed by AWS; check the cluster health in the EKS console and open a support case if it persists.',
      kubectl: `kubectl get --raw '/readyz/${check.name}?verbose'`,
    }));
    if (failing.length === 0 && (response.status < 200 || response.status >= 300)) {
      findings.push({
        status: 'FAIL',
        object: 'readyz',
        evidence: `HTTP ${response.status}: ${oneLine(response.body)}`,
        hint: 'The API server reports itself not ready without naming a check: retry, then check the cluster health in the EKS console.',
        kubectl: `kubectl get --raw '${READYZ_PATH}'`,
      });
    }
    return { findings, checked: `${checks.length} API server readiness checks pass` };
  },
};

/** Parses `v1.29.3-eks-…` / `29+` style versions to a minor number. */
function minorOf(version: string | undefined): { major: number; minor: number } | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

/** How many minors a kubelet may lag the API server: 3 since Kubernetes 1.28, 2 before. */
function allowedKubeletLag(serverMinor: number): number {
  return serverMinor >= 28 ? 3 : 2;
}

function serverMinor(version: ServerVersion): { major: number; minor: number } | undefined {
  const fromGit = minorOf(version.gitVersion);
  if (fromGit) return fromGit;
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10);
  return Number.isNaN(major) || Number.isNaN(minor) ? undefined : { major, minor };
}

const versionSkew: Recipe = {
  id: 'health.version-skew',
  area: 'health',
  kubectl: 'kubectl version && kubectl get nodes -o wide',
  async run(context) {
    const version = await context.reader.version();
    const nodes = await context.list<Node>('nodes');
    const server = serverMinor(version);
    if (!server) {
      return {
        findings: [
          {
            status: 'WARN',
            object: 'version',
            evidence: `cannot read the server version: ${JSON.stringify(version)}`,
            hint: 'Compare the server and kubelet versions by hand.',
            kubectl: 'kubectl version',
          },
        ],
        checked: '',
      };
    }
    const lag = allowedKubeletLag(server.minor);
    const byVersion = new Map<string, string[]>();
    for (const node of nodes) {
      const kubelet = node.status?.nodeInfo?.kubeletVersion ?? 'unknown';
      byVersion.set(kubelet, [...(byVersion.get(kubelet) ?? []), nameOf(node)]);
    }
    const findings: Finding[] = [];
    for (const [kubelet, names] of byVersion) {
      const parsed = minorOf(kubelet);
      if (!parsed) continue;
      const behind = server.minor - parsed.minor;
      const list = `${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
      const base = {
        object: objectRef('Node', names[0]!),
        kubectl: describe('node', names[0]!),
      };
      if (parsed.major !== server.major || behind < 0) {
        findings.push({
          ...base,
          status: 'FAIL',
          evidence: `kubelet ${kubelet} on ${list} is newer than the API server ${version.gitVersion}`,
          hint: 'Kubelets must never be newer than the API server: upgrade the control plane first, or roll these nodes back.',
        });
      } else if (behind > lag) {
        findings.push({
          ...base,
          status: 'FAIL',
          evidence: `kubelet ${kubelet} on ${list} is ${behind} minor versions behind the API server ${version.gitVersion} (at most ${lag} supported)`,
          hint: 'Upgrade these node groups: this skew is unsupported and features or API calls may fail.',
        });
      } else if (behind === lag) {
        findings.push({
          ...base,
          status: 'WARN',
          evidence: `kubelet ${kubelet} on ${list} is ${behind} minor versions behind the API server ${version.gitVersion}, the most supported`,
          hint: 'Upgrade these node groups before the next control-plane upgrade, which would make the skew unsupported.',
        });
      }
    }
    return {
      findings,
      checked: `server ${version.gitVersion}; kubelets ${[...byVersion.keys()].sort().join(', ') || 'none'} within the supported skew`,
    };
  },
};

const PRESSURES = ['MemoryPressure', 'DiskPressure', 'PIDPressure'] as const;
const PRESSURE_HINTS: Record<(typeof PRESSURES)[number], string> = {
  MemoryPressure: 'The node is short of memory and evicts pods: check kubectl top pods on it and pod memory limits.',
  DiskPressure: 'The node is short of disk (root or image filesystem) and evicts pods: clean images or grow the node volume.',
  PIDPressure: 'The node is running out of process IDs: look for a pod that forks without limit.',
};

const nodeConditions: Recipe = {
  id: 'health.node-pressure',
  area: 'health',
  kubectl: 'kubectl describe nodes',
  async run(context) {
    const nodes = await context.list<Node>('nodes');
    const findings: Finding[] = [];
    for (const node of nodes) {
      const name = nameOf(node);
      for (const pressure of PRESSURES) {
        const condition = conditionOf(node.status?.conditions, pressure);
        if (condition?.status !== 'True') continue;
        findings.push({
          status: 'FAIL',
          object: objectRef('Node', name),
          evidence: `${pressure}=True ${context.lasting(millis(condition.lastTransitionTime))}: ${oneLine(condition.message)}`,
          hint: PRESSURE_HINTS[pressure],
          kubectl: describe('node', name),
        });
      }
      if (node.spec?.unschedulable) {
        findings.push({
          status: 'WARN',
          object: objectRef('Node', name),
          evidence: 'cordoned (spec.unschedulable=true): no new pods are placed here',
          hint: 'If no drain or upgrade is in progress, uncordon it: kubectl uncordon ' + name,
          kubectl: describe('node', name),
        });
      }
    }
    return { findings, checked: `${nodes.length} nodes without memory, disk or PID pressure, none cordoned` };
  },
};

/** Pods younger than this are still starting; Pending then is normal. */
const PENDING_GRACE_MS = 2 * 60_000;

const PENDING_HINTS: [RegExp, string][] = [
  // First the volume constraints: a pod with a zonal volume can only go to that zone, and only to a node
  // with a free attachment, so whatever the other nodes lack is moot.
  [/volume node affinity conflict|had no available volume zone|NoVolumeZoneConflict/i, 'The pod volume lives in a zone without a usable node: add capacity in that zone.'],
  [/exceed max volume count|max volume count/i, 'The nodes that could take the pod already hold as many EBS volumes as they may attach (the attachment limit in kubectl get csinode): add nodes, spread volume-heavy pods, or use instance types with more attachments.'],
  [/Insufficient (cpu|memory|pods|ephemeral-storage)|Too many pods/i, 'No node has room for the pod: scale up the node group (check the cluster autoscaler) or lower the pod requests.'],
  [/untolerated taint|had taint/i, 'The nodes carry taints the pod does not tolerate: check the taints (kubectl describe nodes) and the pod tolerations.'],
  [/didn't match Pod's node affinity|node selector|didn't match node selector/i, 'No node matches the pod nodeSelector or affinity: check the node labels.'],
  [/unbound immediate PersistentVolumeClaims|persistentvolumeclaim .* not found/i, 'The pod waits for its PVC: see the volumes checks (byoc k8s diagnose --area volumes).'],
  [/ImagePullBackOff|ErrImagePull|InvalidImageName/i, 'The image cannot be pulled: check the image name and tag, registry credentials, and that nodes reach the registry.'],
  [/CreateContainerConfigError/i, 'A ConfigMap, Secret or key the container references is missing: read the message in kubectl describe pod.'],
  [/ContainerCreating|FailedMount|FailedAttachVolume|FailedCreatePodSandBox/i, 'The pod is placed but its volumes or network are not ready: see the volumes and nodes checks.'],
];

const pendingPods: Recipe = {
  id: 'health.pending-pods',
  area: 'health',
  kubectl: 'kubectl get pods -A --field-selector status.phase=Pending',
  async run(context) {
    const pods = await context.list<Pod>('pods');
    const pending = pods.filter((pod) => pod.status?.phase === 'Pending' && (context.age(pod.metadata) ?? Infinity) >= PENDING_GRACE_MS);
    const warnings = pending.length > 0 ? await context.optionalWarnings() : undefined;
    const findings = pending.map((pod): Finding => {
      const name = nameOf(pod);
      const namespace = pod.metadata?.namespace;
      const scheduled = conditionOf(pod.status?.conditions, 'PodScheduled');
      const age = context.age(pod.metadata);
      const waiting = (pod.status?.containerStatuses ?? [])
        .map((status) => status.state?.waiting?.reason)
        .filter((reason) => reason !== undefined);
      const event = groupEvents(
        (warnings ?? []).filter(
          (candidate) => candidate.involvedObject?.kind === 'Pod' && candidate.involvedObject.name === name && candidate.involvedObject.namespace === namespace,
        ),
      )[0];
      let why: string;
      if (scheduled?.status === 'False') why = `not scheduled: ${oneLine(scheduled.message || scheduled.reason)}`;
      else if (waiting.length > 0) why = `on node ${pod.spec?.nodeName ?? '?'}, containers ${[...new Set(waiting)].join(', ')}`;
      else why = oneLine(pod.status?.message || pod.status?.reason || 'no reason given');
      const latest = event ? `; ${eventEvidence(event, context)}` : '';
      return {
        status: 'FAIL',
        object: objectRef('Pod', name, namespace),
        evidence: `Pending for ${age === undefined ? 'an unknown time' : formatCoarse(age)}, ${why}${latest}`,
        hint: hintFor(`${why} ${event?.reason ?? ''} ${event?.message ?? ''}`, PENDING_HINTS, 'Read the pod events: kubectl describe pod.'),
        kubectl: describe('pod', name, namespace),
      };
    });
    return { findings, checked: `${pods.length} pods, none Pending for more than ${formatDuration(PENDING_GRACE_MS)}` };
  },
};

const crashLooping: Recipe = {
  id: 'health.crashloop',
  area: 'health',
  kubectl: 'kubectl get pods -A',
  async run(context) {
    const pods = await context.list<Pod>('pods');
    const from = context.nowMs - context.since;
    const findings: Finding[] = [];
    for (const pod of pods) {
      for (const problem of containerProblems(pod)) {
        if (problem.reason === 'NotReady') continue;
        if (problem.reason === 'Restarts') {
          // Old restarts are history; only a restart inside the window is news.
          const status = pod.status?.containerStatuses?.find((candidate) => candidate.name === problem.container);
          const last = millis(status?.lastState?.terminated?.finishedAt);
          if (last !== undefined && last < from) continue;
        }
        findings.push({
          status: problem.severity,
          object: objectRef('Pod', nameOf(pod), pod.metadata?.namespace),
          evidence: `${pod.spec?.nodeName ? `on node ${pod.spec.nodeName}: ` : ''}${problem.text}`,
          hint: containerHint(pod, problem),
          kubectl: problem.reason.includes('Image') || problem.reason.includes('Config') ? describe('pod', nameOf(pod), pod.metadata?.namespace) : logsCommand(pod, problem.container),
        });
      }
    }
    return { findings, checked: `${pods.length} pods, none crash-looping, failing to pull or restarting often in ${context.sinceLabel}` };
  },
};

const oomKilled: Recipe = {
  id: 'health.oom-killed',
  area: 'health',
  kubectl: 'kubectl get pods -A -o jsonpath=\'{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\t"}{.status.containerStatuses[*].lastState.terminated.reason}{"\\n"}{end}\' | grep OOMKilled',
  async run(context) {
    const pods = await context.list<Pod>('pods');
    const from = context.nowMs - context.since;
    const findings: Finding[] = [];
    for (const pod of pods) {
      for (const status of pod.status?.containerStatuses ?? []) {
        const terminated = [status.state?.terminated, status.lastState?.terminated].find((state) => state?.reason === 'OOMKilled');
        if (!terminated) continue;
        const at = millis(terminated.finishedAt);
        const recent = at === undefined || at >= from;
        findings.push({
          status: recent ? 'FAIL' : 'WARN',
          object: objectRef('Pod', nameOf(pod), pod.metadata?.namespace),
          evidence: `container ${status.name ?? '?'} OOMKilled ${context.ago(at)}, ${status.restartCount ?? 0} restarts`,
          hint: 'The container exceeded its memory limit (or the node ran out): raise the limit or find what grows (kubectl top pod; for ClickHouse, max_server_memory_usage and query memory).',
          kubectl: describe('pod', nameOf(pod), pod.metadata?.namespace),
        });
      }
    }
    return { findings, checked: `${pods.length} pods, no container OOM-killed` };
  },
};

const failedPods: Recipe = {
  id: 'health.failed-pods',
  area: 'health',
  kubectl: 'kubectl get pods -A --field-selector status.phase=Failed',
  async run(context) {
    const pods = await context.list<Pod>('pods');
    const findings = pods
      .filter((pod) => pod.status?.phase === 'Failed')
      .map(
        (pod): Finding => ({
          status: 'WARN',
          object: objectRef('Pod', nameOf(pod), pod.metadata?.namespace),
          evidence: `Failed${pod.status?.reason ? ` (${pod.status.reason})` : ''}: ${oneLine(pod.status?.message)}`,
          hint:
            pod.status?.reason === 'Evicted'
              ? 'The kubelet evicted it under node pressure: see the node-pressure check; evicted pods can be deleted.'
              : 'Read why it failed in kubectl describe pod; owners (Jobs, Deployments) usually replace it.',
          kubectl: describe('pod', nameOf(pod), pod.metadata?.namespace),
        }),
      );
    return { findings, checked: `${pods.length} pods, none Failed or evicted` };
  },
};

const workloads: Recipe = {
  id: 'health.workloads',
  area: 'health',
  kubectl: 'kubectl get deployments,statefulsets,daemonsets -A',
  async run(context) {
    const [deployments, statefulSets, daemonSets] = await Promise.all([
      context.list<Deployment>('deployments'),
      context.list<StatefulSet>('statefulsets'),
      context.list<DaemonSet>('daemonsets'),
    ]);
    const counted = [
      ...deployments.map((item) => ({ kind: 'Deployment', item, desired: item.spec?.replicas ?? 1, ready: item.status?.readyReplicas ?? 0 })),
      ...statefulSets.map((item) => ({ kind: 'StatefulSet', item, desired: item.spec?.replicas ?? 1, ready: item.status?.readyReplicas ?? 0 })),
      ...daemonSets.map((item) => ({ kind: 'DaemonSet', item, desired: item.status?.desiredNumberScheduled ?? 0, ready: item.status?.numberReady ?? 0 })),
    ];
    const findings = counted
      .filter(({ desired, ready }) => ready < desired)
      .map(
        ({ kind, item, desired, ready }): Finding => ({
          status: 'FAIL',
          object: objectRef(kind, nameOf(item), item.metadata?.namespace),
          evidence: `${ready}/${desired} ready`,
          hint: `Some replicas are not ready: look at its pods (crash-looping, pending, failing probes), then kubectl rollout status ${kind.toLowerCase()}/${nameOf(item)}.`,
          kubectl: describe(kind, nameOf(item), item.metadata?.namespace),
        }),
      );
    return { findings, checked: `${counted.length} Deployments, StatefulSets and DaemonSets at their desired ready count` };
  },
};

const TOP_EVENTS = 5;

const topWarnings: Recipe = {
  id: 'health.warning-events',
  area: 'health',
  kubectl: "kubectl get events -A --field-selector type=Warning --sort-by='.lastTimestamp'",
  async run(context) {
    const groups = groupEvents(await context.warnings())
      .sort((a, b) => b.count - a.count || (b.last ?? 0) - (a.last ?? 0))
      .slice(0, TOP_EVENTS);
    const findings = groups.map(
      (group): Finding => ({
        status: 'WARN',
        object: objectRef(group.kind, group.name, group.namespace),
        evidence: eventEvidence(group, context),
        hint: 'One of the most frequent warnings in the window: other checks may explain it; otherwise start from the object events.',
        kubectl: describeEventObject(group),
      }),
    );
    return { findings, checked: `no Warning events in ${context.sinceLabel}` };
  },
};

export const HEALTH_RECIPES: Recipe[] = [readyz, versionSkew, nodeConditions, pendingPods, crashLooping, oomKilled, failedPods, workloads, topWarnings];
