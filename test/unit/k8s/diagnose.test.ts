import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../../src/errors.js';
import type { ClusterReader, ClusterResource } from '../../../src/k8s/cluster-reader.js';
import { parseReadyz, recipeIds, runDiagnostics, worstStatus, type Check, type DiagnoseOptions } from '../../../src/k8s/diagnose.js';
import { ForbiddenError } from '../../../src/k8s/errors.js';
import { fixtureReader } from '../../fakes/k8s-fixture-reader.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/k8s');
const NOW = new Date('2025-06-01T12:00:00Z');
const HOUR = 3_600_000;
const ALL_AREAS = ['volumes', 'nodes', 'health'] as const;

function diagnose(scenarioOrReader: string | ClusterReader, options: Partial<DiagnoseOptions> = {}): Promise<Check[]> {
  const reader = typeof scenarioOrReader === 'string' ? fixtureReader(path.join(FIXTURES, scenarioOrReader)) : scenarioOrReader;
  return runDiagnostics(reader, { areas: ALL_AREAS, since: HOUR, now: NOW, ...options });
}

function rowsOf(checks: Check[], id: string): Check[] {
  return checks.filter((check) => check.id === id);
}

/** The one row of a check about an object; fails the test when there is not exactly one. */
function rowFor(checks: Check[], id: string, object: string): Check {
  const rows = checks.filter((check) => check.id === id && check.object === object);
  expect(rows, `${id} ${object} in\n${checks.map((c) => `${c.status} ${c.id} ${c.object ?? ''}`).join('\n')}`).toHaveLength(1);
  return rows[0]!;
}

function statusOf(checks: Check[], id: string): string[] {
  return rowsOf(checks, id).map((check) => check.status);
}

/** A reader that answers 403 for one resource, either on all-namespace calls (namespace undefined) or in one namespace. */
function forbidding(reader: ClusterReader, resource: ClusterResource, namespace?: string): ClusterReader {
  return {
    ...reader,
    list: (listed, listedNamespace, options) =>
      listed === resource && namespace === listedNamespace
        ? Promise.reject(new ForbiddenError(listed, listedNamespace))
        : reader.list(listed, listedNamespace, options),
  };
}

/** client-node hands back Date objects for timestamps; the recipes must read both. */
function withDates(reader: ClusterReader): ClusterReader {
  const revive = (value: unknown): unknown => {
    if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value)) return new Date(value);
    if (Array.isArray(value)) return value.map(revive);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
    return value;
  };
  return {
    ...reader,
    list: async (resource, namespace, options) => ({ items: (await reader.list(resource, namespace, options)).items.map(revive) }),
  };
}

describe('runDiagnostics on a healthy cluster', () => {
  it('passes every recipe, one PASS row each saying what was checked', async () => {
    // Given the healthy fixture
    // When every area is diagnosed
    const checks = await diagnose('healthy');

    // Then every recipe reports exactly one PASS row, with evidence and a kubectl command
    expect(checks.map((check) => check.id)).toEqual(recipeIds());
    for (const check of checks) {
      expect(check.status, `${check.id}: ${check.evidence}`).toBe('PASS');
      expect(check.evidence).not.toBe('');
      expect(check.kubectl).toMatch(/^kubectl /);
    }
    expect(worstStatus(checks)).toBe('PASS');
  });

  it('ignores warning events older than the window', async () => {
    // Given a FailedMount warning from 3h10m ago on a pod that is running now
    // When diagnosed with a 1h window, then with a 4h window
    const recent = await diagnose('healthy', { areas: ['volumes'] });
    const wide = await diagnose('healthy', { areas: ['volumes'], since: 4 * HOUR });

    // Then only the wide window sees it, as a WARN because the pod has recovered since
    expect(statusOf(recent, 'volumes.mount-events')).toEqual(['PASS']);
    const row = rowFor(wide, 'volumes.mount-events', 'pod/clickhouse/keeper-abc123-1');
    expect(row.status).toBe('WARN');
    expect(row.evidence).toMatch(/FailedMount once, last 3h10m ago: .*failed to sync configmap cache.*running and ready now/);
  });

  it('runs only the requested areas', async () => {
    // Given the healthy fixture
    // When only nodes are diagnosed
    const checks = await diagnose('healthy', { areas: ['nodes'] });

    // Then only node recipes ran
    expect(checks.map((check) => check.id)).toEqual(recipeIds('nodes'));
  });

  it('lists each resource once per run, however many recipes read it', async () => {
    // Given a reader that records its calls
    const reader = fixtureReader(path.join(FIXTURES, 'healthy'));

    // When everything is diagnosed
    await diagnose(reader);

    // Then no request was repeated
    expect(reader.calls.length).toBe(new Set(reader.calls).size);
    expect(reader.calls).toContain('list events --field-selector type=Warning');
    expect(reader.calls).toContain('raw /readyz?verbose');
  });
});

describe('volume recipes', () => {
  it('reports a VolumeAttachment attachError with the PV, node, message and an IAM hint', async () => {
    // Given a VolumeAttachment whose attach failed with UnauthorizedOperation
    const checks = await diagnose('volume-attach-error', { areas: ['volumes'] });

    // Then it is a FAIL row with the evidence, the hint and the kubectl command to look at it
    const row = rowFor(checks, 'volumes.volumeattachments', 'volumeattachment/csi-bd27ca7560931adee1d7a297a2720b418228765cdb6ee9d458328aff06a6dfca');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toMatch(/^PV pvc-f84c949f-df4d-ca6f-167b-31cfe56a5c20 on node ip-10-0-2-45\.ec2\.internal \(ebs\.csi\.aws\.com\): attach failed 2m ago: .*UnauthorizedOperation/);
    expect(row.hint).toMatch(/IAM role/);
    expect(row.kubectl).toBe('kubectl get volumeattachment csi-bd27ca7560931adee1d7a297a2720b418228765cdb6ee9d458328aff06a6dfca -o yaml');
  });

  it('reports a detach stuck for 42 minutes on a node that no longer exists', async () => {
    // Given an old VolumeAttachment being deleted for 42m, on a node that is gone
    const checks = await diagnose('volume-attach-error', { areas: ['volumes'] });

    // Then the stuck detach is a FAIL and the missing node a WARN, on the same object
    const rows = checks.filter((check) => check.object === 'volumeattachment/csi-482cf819f411e2723c43233035828ba47c5f44cd96a09db20c7940d493b1a835');
    expect(rows.map((row) => [row.status, row.evidence.replace(/^.*\): /, '')])).toEqual([
      ['FAIL', 'detaching for 42m'],
      ['WARN', 'node ip-10-0-1-99.ec2.internal no longer exists'],
    ]);
  });

  it('reports FailedAttachVolume and FailedMount events for the stuck pod', async () => {
    // Given the pod whose volume cannot attach
    const checks = await diagnose('volume-attach-error', { areas: ['volumes'] });

    // Then both event checks fail for that pod, with counts and the kubectl describe command
    const attach = rowFor(checks, 'volumes.attach-events', 'pod/clickhouse/chi-abc123-default-0-1-0');
    expect(attach.status).toBe('FAIL');
    expect(attach.evidence).toMatch(/^FailedAttachVolume 9×, last 2m ago: AttachVolume\.Attach failed/);
    expect(attach.kubectl).toBe('kubectl describe pod chi-abc123-default-0-1-0 -n clickhouse');
    const mount = rowFor(checks, 'volumes.mount-events', 'pod/clickhouse/chi-abc123-default-0-1-0');
    expect(mount.status).toBe('FAIL');
    expect(mount.evidence).toMatch(/FailedMount 7×, last 1m ago: .*timed out waiting for the condition \(node ip-10-0-2-45\.ec2\.internal\)$/);
    expect(mount.hint).toMatch(/FailedAttachVolume/);
  });

  it('ties a FailedMount "driver not found" to the crash-looping ebs-csi-node pod on that node', async () => {
    // Given the EBS CSI node plugin crash-looping on ip-10-0-3-67 and a pod there failing to mount
    const checks = await diagnose('failed-mount', { areas: ['volumes'] });

    // Then the mount check fails with a hint pointing at the node plugin
    const mount = rowFor(checks, 'volumes.mount-events', 'pod/clickhouse/keeper-abc123-2');
    expect(mount.status).toBe('FAIL');
    expect(mount.evidence).toMatch(/driver name ebs\.csi\.aws\.com not fou/);
    expect(mount.hint).toMatch(/ebs-csi-node pod on that node/);
    // And the driver check fails for the crash-looping pod, pointing at its previous log
    const driver = rowFor(checks, 'volumes.ebs-csi-driver', 'pod/kube-system/ebs-csi-node-gzl4j');
    expect(driver.status).toBe('FAIL');
    expect(driver.evidence).toBe('on node ip-10-0-3-67.ec2.internal: container ebs-plugin CrashLoopBackOff, 14 restarts, last exit Error (exit 1)');
    expect(driver.kubectl).toBe('kubectl logs ebs-csi-node-gzl4j -n kube-system -c ebs-plugin --previous');
  });

  it('reports a PVC that cannot be provisioned, but not one waiting for its unschedulable pod', async () => {
    // Given an Immediate-binding PVC failing to provision and a WaitForFirstConsumer PVC whose pod is unschedulable
    const checks = await diagnose('pending-pods', { areas: ['volumes'] });

    // Then only the first is a FAIL, with the provisioning error as evidence
    const rows = rowsOf(checks, 'volumes.pvc-pending');
    expect(rows.map((row) => row.object)).toEqual(['pvc/clickhouse/backup-scratch']);
    expect(rows[0]!.status).toBe('FAIL');
    expect(rows[0]!.evidence).toMatch(/^Pending for 40m \(storage class gp3-immediate\); ProvisioningFailed 11×, last 5m ago: .*AccessDeniedException/);
    expect(rows[0]!.kubectl).toBe('kubectl describe pvc backup-scratch -n clickhouse');
  });

  it('reports a volume stranded in a zone without nodes, and the pod that cannot follow it', async () => {
    // Given us-east-1c lost its only node while a keeper volume lives there
    const checks = await diagnose('pending-pods', { areas: ['volumes'] });

    // Then the PV and the pod's FailedScheduling event are FAIL rows of the zone check
    const pv = rowFor(checks, 'volumes.zone-mismatch', 'pv/pvc-98945178-55c3-dc84-2d3c-f55fb31ca6c7');
    expect(pv.status).toBe('FAIL');
    expect(pv.evidence).toBe(
      'PV (vol-0513c101ee94946e9) for claim clickhouse/keeper-data-keeper-abc123-2 lives in us-east-1c; no Ready schedulable node there (zones with one: us-east-1a, us-east-1b)',
    );
    expect(pv.hint).toMatch(/us-east-1c/);
    const pod = rowFor(checks, 'volumes.zone-mismatch', 'pod/clickhouse/keeper-abc123-2');
    expect(pod.status).toBe('FAIL');
    expect(pod.evidence).toMatch(/volume node affinity conflict/);
  });

  it('only warns about a zone without usable nodes while the pod on the volume still runs', async () => {
    // Given node ip-10-0-2-45 (us-east-1b) cordoned, with pods still running on its volumes
    const checks = await diagnose('degraded-workloads', { areas: ['volumes'] });

    // Then the zone rows are WARNs that say the pod could not be restarted
    const rows = rowsOf(checks, 'volumes.zone-mismatch');
    expect(rows.map((row) => row.status)).toEqual(['WARN', 'WARN']);
    expect(rows[0]!.evidence).toMatch(/lives in us-east-1b; .*still runs, but could not be restarted$/);
  });

  it('reports a pod running in another zone than its volume', async () => {
    // Given (in memory) a PV in us-east-1a used by a pod placed on a us-east-1b node
    const objects: Partial<Record<ClusterResource, unknown[]>> = {
      nodes: [
        { metadata: { name: 'a', labels: { 'topology.kubernetes.io/zone': 'us-east-1a' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
        { metadata: { name: 'b', labels: { 'topology.kubernetes.io/zone': 'us-east-1b' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      ],
      persistentvolumes: [
        {
          metadata: { name: 'pv-1' },
          spec: {
            csi: { driver: 'ebs.csi.aws.com', volumeHandle: 'vol-1' },
            claimRef: { namespace: 'ch', name: 'data' },
            nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.ebs.csi.aws.com/zone', operator: 'In', values: ['us-east-1a'] }] }] } },
          },
        },
      ],
      pods: [{ metadata: { name: 'p', namespace: 'ch' }, spec: { nodeName: 'b', volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] }, status: { phase: 'Pending' } }],
    };
    const reader: ClusterReader = {
      list: async (resource) => ({ items: objects[resource] ?? [] }),
      raw: async () => ({ status: 200, body: '' }),
      version: async () => ({ gitVersion: 'v1.30.0', major: '1', minor: '30' }),
    };

    // When the volumes are diagnosed
    const checks = await diagnose(reader, { areas: ['volumes'] });

    // Then the pod is a FAIL naming both zones
    const row = rowFor(checks, 'volumes.zone-mismatch', 'pod/ch/p');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toBe('on node b in us-east-1b, but its volume pv-1 (vol-1) is in us-east-1a');
  });
});

describe('node recipes', () => {
  it('reports a NotReady node with the CNI reason, its taints and a CNI hint', async () => {
    // Given ip-10-0-3-67 NotReady because the CNI is not initialised
    const checks = await diagnose('node-not-ready', { areas: ['nodes'] });

    // Then it is a FAIL with the condition, message and taints, and the describe command
    const row = rowFor(checks, 'nodes.ready', 'node/ip-10-0-3-67.ec2.internal');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toBe(
      'Ready=False (KubeletNotReady) for 14m: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized; tainted node.kubernetes.io/not-ready:NoSchedule, node.kubernetes.io/not-ready:NoExecute',
    );
    expect(row.hint).toMatch(/aws-node/);
    expect(row.kubectl).toBe('kubectl describe node ip-10-0-3-67.ec2.internal');
  });

  it('reports NetworkUnavailable with the network-unavailable taint', async () => {
    // Given the same node with NetworkUnavailable=True
    const checks = await diagnose('node-not-ready', { areas: ['nodes'] });

    // Then the network check fails for it alone
    const rows = rowsOf(checks, 'nodes.network');
    expect(rows.map((row) => row.object)).toEqual(['node/ip-10-0-3-67.ec2.internal']);
    expect(rows[0]!.evidence).toBe(
      'NetworkUnavailable=True (NoRouteCreated): Node created without a route; tainted node.kubernetes.io/network-unavailable:NoSchedule',
    );
  });

  it('reports an unreachable node and its stale lease', async () => {
    // Given ip-10-0-2-45 whose kubelet stopped posting status 6 minutes ago
    const checks = await diagnose('node-not-ready', { areas: ['nodes'] });

    // Then Ready=Unknown and the lease age are both FAILs with hints about the kubelet
    const ready = rowFor(checks, 'nodes.ready', 'node/ip-10-0-2-45.ec2.internal');
    expect(ready.evidence).toMatch(/^Ready=Unknown \(NodeStatusUnknown\) for 5m: Kubelet stopped posting node status\.; tainted node\.kubernetes\.io\/unreachable/);
    expect(ready.hint).toMatch(/kubelet stopped reporting/);
    const lease = rowFor(checks, 'nodes.lease', 'node/ip-10-0-2-45.ec2.internal');
    expect(lease.status).toBe('FAIL');
    expect(lease.evidence).toBe('lease last renewed 6m10s ago (limit 40s)');
    expect(lease.kubectl).toBe('kubectl get lease ip-10-0-2-45.ec2.internal -n kube-node-lease -o yaml');
  });

  it('reports a crash-looping aws-node pod and its DaemonSet below the desired count', async () => {
    // Given aws-node crash-looping on ip-10-0-1-23
    const checks = await diagnose('aws-node-crashloop', { areas: ['nodes'] });

    // Then the aws-node check fails for the DaemonSet and the pod, pointing at the previous log
    const daemonSet = rowFor(checks, 'nodes.aws-node', 'daemonset/kube-system/aws-node');
    expect(daemonSet.evidence).toBe('DaemonSet aws-node: 2/3 pods ready');
    const pod = rowFor(checks, 'nodes.aws-node', 'pod/kube-system/aws-node-xfq4z');
    expect(pod.status).toBe('FAIL');
    expect(pod.evidence).toBe('on node ip-10-0-1-23.ec2.internal: container aws-node CrashLoopBackOff, 23 restarts, last exit Error (exit 1)');
    expect(pod.kubectl).toBe('kubectl logs aws-node-xfq4z -n kube-system -c aws-node --previous');
  });

  it('reports IP assignment failures and points at the aws-node log on that node', async () => {
    // Given FailedCreatePodSandBox "failed to assign an IP address" for a pod on ip-10-0-1-23
    const checks = await diagnose('aws-node-crashloop', { areas: ['nodes'] });

    // Then it is a FAIL with the count, the node and the aws-node pod of that node
    const row = rowFor(checks, 'nodes.ip-assignment', 'pod/clickhouse/clickhouse-backup-29143200-k7w2x');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toMatch(/^FailedCreatePodSandBox 31×, last 30s ago: .*\(node ip-10-0-1-23\.ec2\.internal\)$/);
    expect(row.hint).toMatch(/out of addresses/);
    expect(row.kubectl).toBe('kubectl logs aws-node-xfq4z -n kube-system -c aws-node --tail=200');
  });

  it('reports CoreDNS below its desired replicas', async () => {
    // Given one of two CoreDNS replicas unready
    const checks = await diagnose('aws-node-crashloop', { areas: ['nodes'] });

    // Then the CoreDNS check fails for the Deployment and the unready pod, and kube-proxy passes
    expect(rowFor(checks, 'nodes.coredns', 'deployment/kube-system/coredns').evidence).toBe('Deployment coredns: 1/2 pods ready');
    expect(rowFor(checks, 'nodes.coredns', 'pod/kube-system/coredns-787cb67946-p5sxm').evidence).toMatch(/container coredns not ready/);
    expect(statusOf(checks, 'nodes.kube-proxy')).toEqual(['PASS']);
  });
});

describe('health recipes', () => {
  it('parses /readyz?verbose lines', () => {
    // Given a verbose readyz body
    const body = '[+]ping ok\n[-]etcd failed: reason withheld\n[+]poststarthook/rbac/bootstrap-roles ok\nreadyz check failed\n';

    // Then each check is read with its state
    expect(parseReadyz(body)).toEqual([
      { name: 'ping', ok: true, detail: 'ok' },
      { name: 'etcd', ok: false, detail: 'failed: reason withheld' },
      { name: 'poststarthook/rbac/bootstrap-roles', ok: true, detail: 'ok' },
    ]);
  });

  it('reports each failing readyz check', async () => {
    // Given etcd and etcd-readiness failing
    const checks = await diagnose('readyz-failing', { areas: ['health'] });

    // Then each is a FAIL row with the matching kubectl command
    const rows = rowsOf(checks, 'health.readyz');
    expect(rows.map((row) => [row.status, row.object, row.evidence, row.kubectl])).toEqual([
      ['FAIL', 'readyz/etcd', '[-]etcd failed: reason withheld (HTTP 500)', "kubectl get --raw '/readyz/etcd?verbose'"],
      ['FAIL', 'readyz/etcd-readiness', '[-]etcd-readiness failed: reason withheld (HTTP 500)', "kubectl get --raw '/readyz/etcd-readiness?verbose'"],
    ]);
    expect(rows[0]!.hint).toMatch(/etcd/);
  });

  it('reports a kubelet too far behind the API server', async () => {
    // Given a v1.26 kubelet and a v1.30 API server (at most 3 minors allowed)
    const checks = await diagnose('degraded-workloads', { areas: ['health'] });

    // Then the skew check fails for that node only
    const rows = rowsOf(checks, 'health.version-skew');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'FAIL',
      object: 'node/ip-10-0-3-67.ec2.internal',
      evidence: 'kubelet v1.26.15-eks-59bf375 on ip-10-0-3-67.ec2.internal is 4 minor versions behind the API server v1.30.4-eks-a737599 (at most 3 supported)',
    });
  });

  it('reports memory pressure as FAIL and a cordoned node as WARN', async () => {
    // Given MemoryPressure on ip-10-0-1-23 and ip-10-0-2-45 cordoned
    const checks = await diagnose('degraded-workloads', { areas: ['health'] });

    // Then both appear, failure first
    expect(rowsOf(checks, 'health.node-pressure').map((row) => [row.status, row.object, row.evidence])).toEqual([
      ['FAIL', 'node/ip-10-0-1-23.ec2.internal', 'MemoryPressure=True for 9m: kubelet has insufficient memory available'],
      ['WARN', 'node/ip-10-0-2-45.ec2.internal', 'cordoned (spec.unschedulable=true): no new pods are placed here'],
    ]);
  });

  it('reports pending pods with the scheduler message and a matching hint', async () => {
    // Given a replica that does not fit and a keeper whose volume zone has no node
    const checks = await diagnose('pending-pods', { areas: ['health'] });

    // Then both are FAILs, each with its own reason and hint
    const replica = rowFor(checks, 'health.pending-pods', 'pod/clickhouse/chi-abc123-default-0-2-0');
    expect(replica.evidence).toMatch(/^Pending for 25m, not scheduled: 0\/2 nodes are available: 2 Insufficient memory\./);
    expect(replica.hint).toMatch(/No node has room/);
    const keeper = rowFor(checks, 'health.pending-pods', 'pod/clickhouse/keeper-abc123-2');
    expect(keeper.hint).toMatch(/zone/);
    expect(keeper.kubectl).toBe('kubectl describe pod keeper-abc123-2 -n clickhouse');
  });

  it('reports crash loops, image pull failures and frequent restarts', async () => {
    // Given an operator that cannot pull its image and a keeper that restarted 20m ago
    const checks = await diagnose('degraded-workloads', { areas: ['health'] });

    // Then the pull failure is a FAIL and the restarts a WARN
    const pull = rowFor(checks, 'health.crashloop', 'pod/clickhouse/clickhouse-operator-5d8c7b9f6-qxmz2');
    expect(pull.status).toBe('FAIL');
    expect(pull.evidence).toMatch(/container clickhouse-operator ImagePullBackOff/);
    expect(pull.hint).toMatch(/image cannot be pulled/);
    const restarts = rowFor(checks, 'health.crashloop', 'pod/clickhouse/keeper-abc123-1');
    expect(restarts.status).toBe('WARN');
    expect(restarts.evidence).toBe('on node ip-10-0-2-45.ec2.internal: container clickhouse-keeper restarted 7 times, last exit Error (exit 1)');
  });

  it('ignores restarts older than the window', async () => {
    // Given the same keeper, whose last restart was 20 minutes ago
    // When the window is 10 minutes
    const checks = await diagnose('degraded-workloads', { areas: ['health'], since: 10 * 60_000 });

    // Then it is not reported
    expect(rowsOf(checks, 'health.crashloop').map((row) => row.object)).not.toContain('pod/clickhouse/keeper-abc123-1');
  });

  it('reports an OOM-killed container: FAIL inside the window, WARN before it', async () => {
    // Given a ClickHouse container OOM-killed 9 minutes ago
    const recent = await diagnose('degraded-workloads', { areas: ['health'] });
    const narrow = await diagnose('degraded-workloads', { areas: ['health'], since: 5 * 60_000 });

    // Then it fails within a 1h window and only warns with a 5m window
    const row = rowFor(recent, 'health.oom-killed', 'pod/clickhouse/chi-abc123-default-0-0-0');
    expect(row).toMatchObject({ status: 'FAIL', evidence: 'container clickhouse OOMKilled 9m ago, 3 restarts' });
    expect(rowFor(narrow, 'health.oom-killed', 'pod/clickhouse/chi-abc123-default-0-0-0').status).toBe('WARN');
  });

  it('reports evicted pods and workloads below their desired count', async () => {
    // Given an evicted backup pod and an operator Deployment with 0/1 ready
    const checks = await diagnose('degraded-workloads', { areas: ['health'] });

    // Then the evicted pod is a WARN and the Deployment a FAIL
    expect(rowFor(checks, 'health.failed-pods', 'pod/clickhouse/clickhouse-backup-29143140-q8m4z')).toMatchObject({
      status: 'WARN',
      evidence: expect.stringMatching(/^Failed \(Evicted\): The node was low on resource: memory\./),
    });
    expect(rowFor(checks, 'health.workloads', 'deployment/clickhouse/clickhouse-operator')).toMatchObject({
      status: 'FAIL',
      evidence: '0/1 ready',
      kubectl: 'kubectl describe deployment clickhouse-operator -n clickhouse',
    });
  });

  it('lists the most frequent warning events of the window, most frequent first', async () => {
    // Given several warning events
    const checks = await diagnose('degraded-workloads', { areas: ['health'] });

    // Then at most five WARN rows, by count
    const rows = rowsOf(checks, 'health.warning-events');
    expect(rows.length).toBeLessThanOrEqual(5);
    expect(rows.every((row) => row.status === 'WARN')).toBe(true);
    expect(rows[0]!.evidence).toMatch(/^BackOff 188×/);
  });
});

describe('a forbidden resource', () => {
  it('makes the recipe that needs it SKIPPED, and the run goes on', async () => {
    // Given RBAC forbidding volumeattachments (forbidden.json)
    const checks = await diagnose('forbidden');

    // Then that recipe is one SKIPPED row naming the resource, and every other recipe ran and passed
    const skipped = checks.filter((check) => check.status === 'SKIPPED');
    expect(skipped).toEqual([
      {
        id: 'volumes.volumeattachments',
        area: 'volumes',
        status: 'SKIPPED',
        evidence: 'RBAC forbids list volumeattachments cluster-wide (HTTP 403), so this check did not run',
        hint: expect.stringMatching(/kubectl auth can-i list volumeattachments -A/),
        kubectl: 'kubectl auth can-i list volumeattachments -A',
      },
    ]);
    expect(checks.map((check) => check.id)).toEqual(recipeIds());
    expect(checks.filter((check) => check.status !== 'SKIPPED').every((check) => check.status === 'PASS')).toBe(true);
    expect(worstStatus(checks)).toBe('SKIPPED');
  });

  it('skips the pod-wide recipes but keeps findings that only use pods as extra detail', async () => {
    // Given a stuck attach and RBAC forbidding pods in all namespaces (kube-system still allowed)
    const reader = forbidding(fixtureReader(path.join(FIXTURES, 'volume-attach-error')), 'pods', undefined);

    // When diagnosed
    const checks = await diagnose(reader);

    // Then health recipes over all pods are SKIPPED, the attach events are still reported
    for (const id of ['health.pending-pods', 'health.crashloop', 'health.oom-killed', 'health.failed-pods']) {
      expect(statusOf(checks, id), id).toEqual(['SKIPPED']);
    }
    expect(rowFor(checks, 'volumes.attach-events', 'pod/clickhouse/chi-abc123-default-0-1-0').status).toBe('FAIL');
    expect(statusOf(checks, 'nodes.aws-node')).toEqual(['PASS']);
  });

  it('skips the node lease check when kube-node-lease is forbidden', async () => {
    // Given leases forbidden in kube-node-lease
    const reader = forbidding(fixtureReader(path.join(FIXTURES, 'node-not-ready')), 'leases', 'kube-node-lease');

    // When the nodes are diagnosed
    const checks = await diagnose(reader, { areas: ['nodes'] });

    // Then the lease check says why it did not run, and the Ready check still fails
    expect(rowsOf(checks, 'nodes.lease')).toEqual([
      expect.objectContaining({ status: 'SKIPPED', evidence: expect.stringMatching(/RBAC forbids list leases in namespace kube-node-lease/) }),
    ]);
    expect(statusOf(checks, 'nodes.ready')).toEqual(['FAIL', 'FAIL']);
  });

  it('skips the readyz check on a 403 for the path', async () => {
    // Given /readyz answering 403
    const base = fixtureReader(path.join(FIXTURES, 'healthy'));
    const reader: ClusterReader = { ...base, raw: async () => ({ status: 403, body: '{"kind":"Status","code":403}' }) };

    // When the health area runs
    const checks = await diagnose(reader, { areas: ['health'] });

    // Then readyz is SKIPPED with the can-i command for the path
    expect(rowsOf(checks, 'health.readyz')).toEqual([
      expect.objectContaining({ status: 'SKIPPED', kubectl: 'kubectl auth can-i get /readyz' }),
    ]);
  });

  it('lets other API errors through instead of hiding them in rows', async () => {
    // Given an API that fails with a server error on nodes
    const base = fixtureReader(path.join(FIXTURES, 'healthy'));
    const reader: ClusterReader = {
      ...base,
      list: (resource, namespace, options) =>
        resource === 'nodes' ? Promise.reject(new RemoteError('k8s_api_error', 'GET /api/v1/nodes: 503')) : base.list(resource, namespace, options),
    };

    // When diagnosed
    // Then the run rejects with that error
    await expect(diagnose(reader)).rejects.toThrow(/503/);
  });
});

describe('runDiagnostics details', () => {
  it('reads client-node Date timestamps the same as JSON strings', async () => {
    // Given the same broken cluster, once as JSON and once with Date objects as client-node returns them
    const fromJson = await diagnose('node-not-ready');
    const fromDates = await diagnose(withDates(fixtureReader(path.join(FIXTURES, 'node-not-ready'))));

    // Then the checks are identical
    expect(fromDates).toEqual(fromJson);
  });

  it('caps the rows of one recipe and summarises the rest', async () => {
    // Given a cluster with several warning-level findings
    // When at most one row per recipe is allowed
    const checks = await diagnose('degraded-workloads', { areas: ['health'], maxFindingsPerCheck: 1 });

    // Then a recipe with more findings shows the first plus one summary row
    const rows = rowsOf(checks, 'health.warning-events');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ status: 'WARN', object: '4 more', evidence: '4 more rows like the above (0 FAIL, 4 WARN) not shown' });
  });

  it('orders FAIL rows before WARN rows within a recipe, otherwise keeping its order', async () => {
    // Given (in memory) a cordoned node listed before two nodes under pressure
    const nodes = [
      { metadata: { name: 'cordoned' }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'zz-disk' }, status: { conditions: [{ type: 'DiskPressure', status: 'True' }] } },
      { metadata: { name: 'aa-pid' }, status: { conditions: [{ type: 'PIDPressure', status: 'True' }] } },
    ];
    const reader: ClusterReader = {
      list: async (resource) => ({ items: resource === 'nodes' ? nodes : [] }),
      raw: async () => ({ status: 200, body: '[+]ping ok\n' }),
      version: async () => ({ gitVersion: 'v1.30.0', major: '1', minor: '30' }),
    };

    // When the health area runs
    const checks = await diagnose(reader, { areas: ['health'] });

    // Then the two FAILs come first, in the order the API listed them, then the WARN
    expect(rowsOf(checks, 'health.node-pressure').map((row) => [row.status, row.object])).toEqual([
      ['FAIL', 'node/zz-disk'],
      ['FAIL', 'node/aa-pid'],
      ['WARN', 'node/cordoned'],
    ]);
    expect(worstStatus(checks)).toBe('FAIL');
  });
});

/** An in-memory cluster: the listed objects, nothing else; /readyz ok. */
function cluster(objects: Partial<Record<ClusterResource, unknown[]>>): ClusterReader {
  return {
    list: async (resource) => ({ items: objects[resource] ?? [] }),
    raw: async () => ({ status: 200, body: '[+]ping ok\n' }),
    version: async () => ({ gitVersion: 'v1.30.0', major: '1', minor: '30' }),
  };
}

/** A Pending pod on a node with one Warning event of `reason` two minutes ago. */
function podWithEvent(reason: string, message: string, scheduled = true): ClusterReader {
  return cluster({
    pods: [
      {
        metadata: { name: 'app-0', namespace: 'ch' },
        spec: { ...(scheduled ? { nodeName: 'n1' } : {}), volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] },
        status: { phase: 'Pending' },
      },
    ],
    events: [
      {
        involvedObject: { kind: 'Pod', namespace: 'ch', name: 'app-0' },
        reason,
        message,
        type: 'Warning',
        count: 3,
        lastTimestamp: new Date(NOW.getTime() - 120_000).toISOString(),
      },
    ],
  });
}

describe('hint rules on the wordings users pasted (#14)', () => {
  const LIMIT = /reached its EBS attachment limit/;
  it.each([
    // [message, hint must match, hint must not match]
    ['AttachVolume.Attach failed for volume "pvc-2048" : rpc error: code = DeadlineExceeded desc = context deadline exceeded', /timed out \(not an attachment limit\)/, LIMIT],
    ['AttachVolume.Attach failed for volume "k8s-pod-data" : attachment timeout for volume k8s-pod-data', /timed out/, LIMIT],
    ['AttachVolume.Attach failed for volume “efs-pv” : Attach timeout for volume fs-0bd37fa1a498fc2c7', /timed out/, LIMIT],
    ['AttachVolume.Attach failed for volume "pvc-1" : rpc error: code = Internal desc = Could not attach volume "vol-1" to node "i-1": AttachmentLimitExceeded: too many volumes', LIMIT, /timed out/],
    [
      'AttachVolume.Attach failed for volume "pvc-9f" : timed out waiting for external-attacher of ebs.csi.aws.com CSI driver to attach volume vol-0abc',
      /external-attacher of ebs\.csi\.aws\.com .*ebs-csi-controller.*csi-attacher sidecar/,
      /at EC2/,
    ],
    ['AttachVolume.Attach failed for volume "existing-ebs-pv" : volume attachment is being deleted', /detach in progress/, LIMIT],
    ['AttachVolume.NewAttacher failed for volume "pv" :Failed to get AWS Cloud Provider. GetCloudProvider returned <nil> instead', /AWS cloud provider/, LIMIT],
    ['Multi-Attach error for volume "pvc-16" Volume is already exclusively attached to one node and can\'t be attached to another', /still attached to another node/, LIMIT],
  ])('FailedAttachVolume %s', async (message, hint, notHint) => {
    // Given a pod with that FailedAttachVolume event
    const checks = await diagnose(podWithEvent('FailedAttachVolume', message), { areas: ['volumes'] });

    // Then the attach check fails for the pod with the matching hint, and not the look-alike one
    const row = rowFor(checks, 'volumes.attach-events', 'pod/ch/app-0');
    expect(row.status).toBe('FAIL');
    expect(row.hint).toMatch(hint);
    expect(row.hint).not.toMatch(notHint);
  });

  it.each([
    ['ebs.csi.aws.com', /ebs-csi-node pod on that node/],
    ['efs.csi.aws.com', /efs-csi-node pod on that node/],
    ['s3.csi.aws.com', /s3-csi-node \(Mountpoint for Amazon S3\) pod/],
    ['csi.example.com', /the node plugin DaemonSet of csi\.example\.com/],
  ])('"driver name %s not found in the list of registered CSI drivers" names that driver\'s node plugin', async (driver, hint) => {
    // Given a FailedMount for a driver not registered on the node
    const message = `MountVolume.MountDevice failed for volume "pv" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver name ${driver} not found in the list of registered CSI drivers`;
    const checks = await diagnose(podWithEvent('FailedMount', message), { areas: ['volumes'] });

    // Then the hint names that driver's node plugin, never another driver's
    const row = rowFor(checks, 'volumes.mount-events', 'pod/ch/app-0');
    expect(row.hint).toMatch(hint);
    if (driver !== 'ebs.csi.aws.com') expect(row.hint).not.toMatch(/ebs-csi-node/);
  });

  it.each([
    [
      'Failed to attach volume "<volume-name>" on node "ip-<ip-address>" with: Error attaching EBS volume "vol-123" to instance "i-<instance-id>": VolumeInUse: vol-123 is already attached to an instance status code: 400, request id:',
      /still attached to another instance \(VolumeInUse\)/,
    ],
    [
      'AttachVolume.Attach failed for volume "pvc-2db4" : Error attaching EBS volume "vol-03d0" to instance "i-09b0": "UnauthorizedOperation: You are not authorized to perform this operation. Encoded authorization failure message: S-a2ASLzwJ9nBVU6f0aibSyj2D3pZgyJOyINWAq2dPNTNh9zIfR18JmUHovsgW3V5v0VprZLG7Ih-Xr_7TDgntbeITrxxG1jJ6kLAtNYpAOnjvPmBvuc8skXP5NSg5',
      /lack of permission \(UnauthorizedOperation\).*in-tree kubernetes\.io\/aws-ebs volumes with the control plane/,
    ],
  ])('in-tree attach errors logged as FailedMount: %s', async (message, hint) => {
    // Given an older cluster whose attach error arrived as a FailedMount
    const checks = await diagnose(podWithEvent('FailedMount', message), { areas: ['volumes'] });

    // Then the mount check explains the attach failure, with the cause kept in the evidence
    const row = rowFor(checks, 'volumes.mount-events', 'pod/ch/app-0');
    expect(row.status).toBe('FAIL');
    expect(row.hint).toMatch(hint);
    expect(row.evidence).toMatch(/VolumeInUse|UnauthorizedOperation/);
  });

  it.each([
    '0/3 nodes are available: 1 node(s) had no available volume zone, 2 node(s) didn\'t match node selector.',
    'pod (mongodb-1-8cjbw) failed to fit in any node fit failure summary on nodes : NoVolumeZoneConflict (1)',
    '0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, 1 node(s) had volume node affinity conflict. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.',
  ])('the scheduler zone wording "%s" is a zone failure', async (message) => {
    // Given an unscheduled pod with that FailedScheduling event
    const checks = await diagnose(podWithEvent('FailedScheduling', message, false));

    // Then the zone check fails for it, its evidence keeps the zone words, and the pending-pod hint is about zones
    const row = rowFor(checks, 'volumes.zone-mismatch', 'pod/ch/app-0');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toMatch(/volume zone|NoVolumeZoneConflict|volume node affinity conflict/);
    expect(rowFor(checks, 'health.pending-pods', 'pod/ch/app-0').hint).toMatch(/zone/);
  });
});

describe('WaitForFirstConsumer claims (#14)', () => {
  /** EKS's gp2: WaitForFirstConsumer; a claim picked for node n1 by the scheduler, its pod not yet on a node. */
  function waitingClaim(event?: string, annotations: Record<string, string> = { 'volume.kubernetes.io/selected-node': 'ip-10-0-1-23.ec2.internal' }): ClusterReader {
    return cluster({
      storageclasses: [{ metadata: { name: 'gp2' }, provisioner: 'ebs.csi.aws.com', volumeBindingMode: 'WaitForFirstConsumer' }],
      persistentvolumeclaims: [
        {
          metadata: { name: 'data', namespace: 'ch', creationTimestamp: new Date(NOW.getTime() - 600_000).toISOString(), annotations },
          spec: { storageClassName: 'gp2' },
          status: { phase: 'Pending' },
        },
      ],
      pods: [{ metadata: { name: 'app-0', namespace: 'ch' }, spec: { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] }, status: { phase: 'Pending' } }],
      events: event
        ? [
            {
              involvedObject: { kind: 'PersistentVolumeClaim', namespace: 'ch', name: 'data' },
              reason: 'ProvisioningFailed',
              message: event,
              type: 'Warning',
              count: 5,
              lastTimestamp: new Date(NOW.getTime() - 60_000).toISOString(),
            },
          ]
        : [],
    });
  }

  it('is not reported while it merely waits for its pod to be scheduled', async () => {
    // Given a WaitForFirstConsumer claim without any provisioning failure
    const checks = await diagnose(waitingClaim(undefined, {}), { areas: ['volumes'] });

    // Then the claim check passes
    expect(statusOf(checks, 'volumes.pvc-pending')).toEqual(['PASS']);
  });

  it.each([
    [
      'IAM',
      'failed to provision volume with StorageClass "gp2": rpc error: code = Internal desc = Could not create volume "pvc-c338311b-294b-44b8": could not create volume in EC2: UnauthorizedOperation: You are not authorized to perform this operation. Encoded authorization failure message:',
      /UnauthorizedOperation/,
      /IAM role may not create volumes \(IAM\)/,
    ],
    [
      'KMS',
      "failed to provision volume with StorageClass \"influxdb-data-kube-services-pvc-class\": rpc error: code = Internal desc = Could not create volume \"pvc-d34ce440-7161-4a88-8363-001a057eca81\": failed to get an available volume in EC2: InvalidVolume.NotFound: The volume 'vol-086af10dba8b4b9be' does not exist.\n\tstatus code: 400, request id: bf656776-28fa-469b-9ae1-248725b0a006",
      /InvalidVolume\.NotFound/,
      /KMS key of an encrypted volume/,
    ],
    [
      'quota',
      'failed to provision volume with StorageClass "gp2": rpc error: code = Internal desc = Could not create volume "pvc-1": could not create volume in EC2: VolumeLimitExceeded: You have exceeded your maximum gp2 storage limit of 50 TiB in this region.',
      /VolumeLimitExceeded/,
      /Service Quotas/,
    ],
  ])('whose provisioning failed (%s) is a FAIL with the cause and where the consumer is going', async (_cause, message, cause, hint) => {
    // Given the claim picked for ip-10-0-1-23 and a ProvisioningFailed event
    const checks = await diagnose(waitingClaim(message), { areas: ['volumes'] });

    // Then it is a FAIL (not a PASS "none stuck Pending") naming the node, the cause and what to fix
    const row = rowFor(checks, 'volumes.pvc-pending', 'pvc/ch/data');
    expect(row.status).toBe('FAIL');
    expect(row.evidence).toMatch(/^Pending for 10m \(storage class gp2, WaitForFirstConsumer, used by pod app-0, consumer going to node ip-10-0-1-23\.ec2\.internal\); ProvisioningFailed 5×/);
    expect(row.evidence).toMatch(cause);
    expect(row.hint).toMatch(hint);
  });
});

describe('wordings found in the held-out corpus samples (#14)', () => {
  it.each([
    [
      'AttachVolume.Attach failed for volume "pvc-44c2" : rpc error: code = Internal desc = Could not attach volume "vol-0689" to node "i-0a7e": could not attach volume "vol-0689" to node "i-0a7e": InvalidVolume.ZoneMismatch: The volume \'vol-0689\' is not in the same availability zone as instance \'i-0a7e\'',
      /another availability zone than the node/,
    ],
    ['AttachVolume.Attach failed for volume "pvc-068e" : node "node name" has no NodeID annotation', /node plugin never registered.*ebs-csi-node/],
  ])('FailedAttachVolume %s', async (message, hint) => {
    // Given a pod with that FailedAttachVolume event
    const checks = await diagnose(podWithEvent('FailedAttachVolume', message), { areas: ['volumes'] });

    // Then the attach check names the cause, not the generic fallback
    expect(rowFor(checks, 'volumes.attach-events', 'pod/ch/app-0').hint).toMatch(hint);
  });

  it('a pod that no node with a free EBS attachment can take gets the attachment-limit hint, before the taint one', async () => {
    // Given a FailedScheduling naming taints first and the volume count after
    const message = '0/5 nodes are available: 2 node(s) had untolerated taint {CriticalAddonsOnly: true}, 3 node(s) exceed max volume count. preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.';
    const checks = await diagnose(podWithEvent('FailedScheduling', message, false), { areas: ['health'] });

    // Then the pending-pod row points at the attachment limit
    expect(rowFor(checks, 'health.pending-pods', 'pod/ch/app-0').hint).toMatch(/attachment limit/);
  });
});

describe('malformed objects', () => {
  it('reads conditions holding nulls or not being a list without crashing', async () => {
    const { conditionOf } = await import('../../../src/k8s/objects.js');
    // Given conditions as a broken paste or proxy might hand them over / Then no crash, and the real entry is found
    expect(conditionOf([null as never, { type: 'Ready', status: 'False' }], 'Ready')).toMatchObject({ status: 'False' });
    expect(conditionOf({} as never, 'Ready')).toBeUndefined();
    expect(conditionOf(undefined, 'Ready')).toBeUndefined();
  });
});
