import { formatDuration } from '../../util/duration.js';
import { conditionOf, millis, nameOf, type DaemonSet, type Deployment, type Lease, type Node, type Pod } from '../objects.js';
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

const NODE_READY_HINTS: [RegExp, string][] = [
  [
    /NetworkPluginNotReady|cni plugin not initialized|cni config uninitialized|network plugin/i,
    'The CNI is not running on this node: check its aws-node pod (kubectl get pods -n kube-system -l k8s-app=aws-node -o wide) and that pod log (container aws-node).',
  ],
  [
    /Kubelet stopped posting node status|NodeStatusUnknown/i,
    'The kubelet stopped reporting: the instance may be stopped, overloaded or cut off from the API server. Check the EC2 instance status checks and the node lease.',
  ],
  [/PLEG is not healthy/i, 'The container runtime is not responding on this node: check containerd on the instance (SSM session) or replace the node.'],
];
const NODE_READY_FALLBACK = 'Read the node conditions and recent events (kubectl describe node), then the kubelet log on the instance.';

const NOT_READY_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];
const NETWORK_TAINT = 'node.kubernetes.io/network-unavailable';

function taintsOf(node: Node, keys: string[]): string[] {
  return (node.spec?.taints ?? []).filter((taint) => keys.includes(taint.key ?? '')).map((taint) => `${taint.key}:${taint.effect ?? ''}`);
}

const nodeReady: Recipe = {
  id: 'nodes.ready',
  area: 'nodes',
  kubectl: 'kubectl get nodes -o wide',
  async run(context) {
    const nodes = await context.list<Node>('nodes');
    const findings: Finding[] = [];
    for (const node of nodes) {
      const name = nameOf(node);
      const ready = conditionOf(node.status?.conditions, 'Ready');
      const taints = taintsOf(node, NOT_READY_TAINTS);
      const tainted = taints.length > 0 ? `; tainted ${taints.join(', ')}` : '';
      if (ready?.status !== 'True') {
        const since = millis(ready?.lastTransitionTime);
        const message = ready?.message ?? '';
        findings.push({
          status: 'FAIL',
          object: objectRef('Node', name),
          evidence: `Ready=${ready?.status ?? 'missing'}${ready?.reason ? ` (${ready.reason})` : ''} ${context.lasting(since)}: ${oneLine(message)}${tainted}`,
          hint: hintFor(message, NODE_READY_HINTS, NODE_READY_FALLBACK),
          kubectl: describe('node', name),
        });
      } else if (taints.length > 0) {
        findings.push({
          status: 'WARN',
          object: objectRef('Node', name),
          evidence: `Ready=True but still tainted ${taints.join(', ')}`,
          hint: 'The node controller has not cleared the taint yet; if it stays, the node flaps between Ready and NotReady.',
          kubectl: describe('node', name),
        });
      }
    }
    return { findings, checked: `${nodes.length} nodes, all Ready` };
  },
};

const nodeNetwork: Recipe = {
  id: 'nodes.network',
  area: 'nodes',
  kubectl: 'kubectl get nodes -o custom-columns=NAME:.metadata.name,NETWORK:.status.conditions[?(@.type=="NetworkUnavailable")].status',
  async run(context) {
    const nodes = await context.list<Node>('nodes');
    const findings: Finding[] = [];
    for (const node of nodes) {
      const condition = conditionOf(node.status?.conditions, 'NetworkUnavailable');
      const taints = taintsOf(node, [NETWORK_TAINT]);
      if (condition?.status !== 'True' && taints.length === 0) continue;
      const parts = [
        condition?.status === 'True' ? `NetworkUnavailable=True${condition.reason ? ` (${condition.reason})` : ''}: ${oneLine(condition.message)}` : undefined,
        taints.length > 0 ? `tainted ${taints.join(', ')}` : undefined,
      ].filter((part) => part !== undefined);
      findings.push({
        status: 'FAIL',
        object: objectRef('Node', nameOf(node)),
        evidence: parts.join('; '),
        hint: 'The node has no pod network: the CNI (aws-node) on it has not set up routes. Check its aws-node pod and the ENI/IP limits of the instance.',
        kubectl: describe('node', nameOf(node)),
      });
    }
    return { findings, checked: `${nodes.length} nodes, none with NetworkUnavailable or the network-unavailable taint` };
  },
};

/** The node lifecycle controller calls a node lost after this long without a lease renewal. */
const DEFAULT_LEASE_SECONDS = 40;

const nodeLeases: Recipe = {
  id: 'nodes.lease',
  area: 'nodes',
  kubectl: 'kubectl get leases -n kube-node-lease',
  async run(context) {
    const [nodes, leases] = await Promise.all([context.list<Node>('nodes'), context.list<Lease>('leases', 'kube-node-lease')]);
    const findings: Finding[] = [];
    for (const node of nodes) {
      const name = nameOf(node);
      const lease = leases.find((candidate) => nameOf(candidate) === name);
      const kubectl = `kubectl get lease ${name} -n kube-node-lease -o yaml`;
      if (!lease) {
        findings.push({
          status: 'WARN',
          object: objectRef('Node', name),
          evidence: 'no lease in kube-node-lease',
          hint: 'The kubelet on this node never registered its heartbeat lease: check the kubelet on the instance.',
          kubectl,
        });
        continue;
      }
      const renewed = millis(lease.spec?.renewTime);
      const limit = (lease.spec?.leaseDurationSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
      if (renewed === undefined || context.nowMs - renewed > limit) {
        findings.push({
          status: 'FAIL',
          object: objectRef('Node', name),
          evidence: `lease last renewed ${context.ago(renewed)} (limit ${formatDuration(limit)})`,
          hint: 'The kubelet is silent: the instance may be down, out of memory, or unable to reach the API server (security groups, routes).',
          kubectl,
        });
      }
    }
    return { findings, checked: `${nodes.length} node leases renewed within their duration` };
  },
};

interface Component {
  id: string;
  label: string;
  kind: 'DaemonSet' | 'Deployment';
  name: string;
  isPod(pod: Pod): boolean;
  /** Hint when the workload is degraded. */
  hint: string;
  /** What it means when the workload does not exist. */
  absent: { status: 'PASS' | 'WARN'; text: string };
}

function componentRecipe(component: Component): Recipe {
  const kubectl = `kubectl get ${component.kind.toLowerCase()} ${component.name} -n kube-system`;
  return {
    id: component.id,
    area: 'nodes',
    kubectl,
    async run(context) {
      const pods = (await context.list<Pod>('pods', 'kube-system')).filter((pod) => component.isPod(pod));
      const workloads =
        component.kind === 'DaemonSet'
          ? await context.optional<DaemonSet>('daemonsets', 'kube-system')
          : await context.optional<Deployment>('deployments', 'kube-system');
      const workload = workloads?.find((candidate) => nameOf(candidate) === component.name);
      const findings: Finding[] = [];
      let counts = '';
      if (workload) {
        const { desired, ready } = readyCounts(component.kind, workload);
        counts = `${ready}/${desired} ready`;
        if (ready < desired) {
          findings.push({
            status: 'FAIL',
            object: objectRef(component.kind, component.name, 'kube-system'),
            evidence: `${component.kind} ${component.name}: ${ready}/${desired} pods ready`,
            hint: component.hint,
            kubectl: describe(component.kind, component.name, 'kube-system'),
          });
        }
      } else if (!workloads && pods.length === 0) {
        return { findings, checked: `no ${component.name} pods in kube-system (${component.kind}s not readable)` };
      } else if (pods.length === 0) {
        if (component.absent.status === 'WARN') {
          findings.push({
            status: 'WARN',
            object: objectRef(component.kind, component.name, 'kube-system'),
            evidence: component.absent.text,
            hint: component.hint,
            kubectl: `kubectl get ${component.kind.toLowerCase()}s -n kube-system`,
          });
        }
        return { findings, checked: component.absent.text };
      }
      for (const pod of pods) {
        const where = pod.spec?.nodeName ? `on node ${pod.spec.nodeName}: ` : '';
        for (const problem of containerProblems(pod)) {
          findings.push({
            status: problem.severity,
            object: objectRef('Pod', nameOf(pod), 'kube-system'),
            evidence: `${where}${problem.text}`,
            hint: `${component.hint} ${containerHint(pod, problem)}`,
            kubectl: logsCommand(pod, problem.container),
          });
        }
        if (pod.status?.phase && pod.status.phase !== 'Running' && containerProblems(pod).length === 0) {
          findings.push({
            status: 'FAIL',
            object: objectRef('Pod', nameOf(pod), 'kube-system'),
            evidence: `${where}phase ${pod.status.phase}${pod.status.reason ? ` (${pod.status.reason})` : ''}`,
            hint: component.hint,
            kubectl: describe('pod', nameOf(pod), 'kube-system'),
          });
        }
      }
      return { findings, checked: `${component.label}: ${counts || `${pods.length} pods`}, no pod crash-looping or unready` };
    },
  };
}

function readyCounts(kind: Component['kind'], workload: DaemonSet | Deployment): { desired: number; ready: number } {
  if (kind === 'Deployment') {
    const deployment = workload as Deployment;
    return { desired: deployment.spec?.replicas ?? 1, ready: deployment.status?.readyReplicas ?? 0 };
  }
  const daemonSet = workload as DaemonSet;
  return { desired: daemonSet.status?.desiredNumberScheduled ?? 0, ready: daemonSet.status?.numberReady ?? 0 };
}

const hasLabel = (key: string, value: string) => (pod: Pod) => pod.metadata?.labels?.[key] === value;

function awsNodePod(pod: Pod): boolean {
  return hasLabel('k8s-app', 'aws-node')(pod) || nameOf(pod).startsWith('aws-node-');
}

const awsNode = componentRecipe({
  id: 'nodes.aws-node',
  label: 'aws-node (VPC CNI)',
  kind: 'DaemonSet',
  name: 'aws-node',
  isPod: awsNodePod,
  hint: 'Without a running aws-node, pods on that node get no IP address and the node may turn NotReady.',
  absent: { status: 'PASS', text: 'no aws-node DaemonSet (this cluster does not use the Amazon VPC CNI)' },
});

const kubeProxy = componentRecipe({
  id: 'nodes.kube-proxy',
  label: 'kube-proxy',
  kind: 'DaemonSet',
  name: 'kube-proxy',
  isPod: (pod) => hasLabel('k8s-app', 'kube-proxy')(pod) || nameOf(pod).startsWith('kube-proxy-'),
  hint: 'Without kube-proxy on a node, Service IPs (including DNS) do not work from that node.',
  absent: { status: 'PASS', text: 'no kube-proxy DaemonSet (the CNI may replace it)' },
});

const coreDns = componentRecipe({
  id: 'nodes.coredns',
  label: 'CoreDNS',
  kind: 'Deployment',
  name: 'coredns',
  isPod: hasLabel('k8s-app', 'kube-dns'),
  hint: 'Cluster DNS is degraded: name lookups inside the cluster may fail or be slow.',
  absent: { status: 'WARN', text: 'no coredns Deployment in kube-system' },
});

const IP_FAILURE = /failed to assign an IP address|InsufficientFreeAddressesInSubnet|no available IP addresses|add cmd: failed to assign/i;

const ipAssignment: Recipe = {
  id: 'nodes.ip-assignment',
  area: 'nodes',
  kubectl: 'kubectl get events -A --field-selector type=Warning,reason=FailedCreatePodSandBox',
  async run(context) {
    const groups = groupEvents((await context.warnings()).filter((event) => event.reason === 'FailedCreatePodSandBox'));
    const pods = groups.length > 0 ? await context.optional<Pod>('pods') : undefined;
    const systemPods = groups.length > 0 ? await context.optional<Pod>('pods', 'kube-system') : undefined;
    const findings = groups.map((group): Finding => {
      const ipFailure = IP_FAILURE.test(group.message);
      const pod = pods?.find((candidate) => nameOf(candidate) === group.name && candidate.metadata?.namespace === group.namespace);
      const node = pod?.spec?.nodeName ?? group.host;
      const cni = systemPods?.find((candidate) => awsNodePod(candidate) && candidate.spec?.nodeName === node);
      return {
        status: ipFailure ? 'FAIL' : 'WARN',
        object: objectRef(group.kind, group.name, group.namespace),
        evidence: `${eventEvidence(group, context, IP_FAILURE.exec(group.message)?.[0])}${node ? ` (node ${node})` : ''}`,
        hint: ipFailure
          ? "The node could not get an IP address for the pod: the subnet or the instance's ENIs are out of addresses. Check free IPs in the node subnet, WARM_IP_TARGET / prefix delegation, and the aws-node (ipamd) log on that node."
          : 'The pod sandbox could not be created: read the message, then the aws-node and containerd logs on that node.',
        kubectl: ipFailure
          ? cni
            ? `kubectl logs ${nameOf(cni)} -n kube-system -c aws-node --tail=200`
            : 'kubectl logs -n kube-system -l k8s-app=aws-node -c aws-node --tail=200'
          : describeEventObject(group),
      };
    });
    return { findings, checked: `no FailedCreatePodSandBox warnings in ${context.sinceLabel}` };
  },
};

export const NODE_RECIPES: Recipe[] = [nodeReady, nodeNetwork, nodeLeases, awsNode, kubeProxy, coreDns, ipAssignment];
