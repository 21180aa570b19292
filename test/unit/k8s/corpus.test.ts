import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../fakes/context.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { K8S_FIXTURES, startFakeKubeApi, type FakeKubeApi } from '../../fakes/k8s-api-server.js';
import { FIXTURE_NOW, k8sWorkspace } from '../commands/k8s/workspace.js';

/**
 * The real-world corpus (test/fixtures/k8s/corpus/<id>/): events, conditions and describe snippets that
 * users pasted in public GitHub issues, each with source.json (where it comes from, what was filled in
 * around it and the scenario built from it) and expected.json (the check that must FAIL or WARN, on which
 * object, a cause keyword in its evidence and a hint keyword). Each sample is replayed through
 * `byoc k8s diagnose --json` against the mock API server serving the healthy cluster plus the scenario.
 */
const CORPUS = path.join(K8S_FIXTURES, 'corpus');
const NOW = FIXTURE_NOW.getTime();
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

interface Scenario {
  kind: 'pod-event' | 'pvc-event' | 'node-condition';
  reason: string;
  message: string;
  count?: number;
  /** pod-event: whether the pod is on a node (false for FailedScheduling) */
  scheduled?: boolean;
  /** pvc-event: the claim's storage class, added to the cluster; null when the message says it is missing */
  storageClass?: { name: string; provisioner: string; volumeBindingMode: string } | null;
  /** pvc-event: the volume.kubernetes.io/selected-node annotation */
  selectedNode?: string;
  /** node-condition */
  type?: string;
  status?: string;
}

interface Source {
  url: string;
  repo: string;
  number: number;
  filledIn: string;
  scenario: Scenario;
  /** set on samples collected after the rules were tuned on the others */
  heldOut?: string;
}

interface Expected {
  check: string;
  object: string;
  status: 'FAIL' | 'WARN';
  cause: string;
  hint: string;
  notHint?: string;
}

interface Sample {
  id: string;
  text: string;
  source: Source;
  expected: Expected;
}

interface JsonCheck {
  id: string;
  status: string;
  object: string | null;
  evidence: string;
  hint: string;
}

const NAMESPACE = 'corpus';
const POD = 'app-0';
const CLAIM = 'data-app-0';
const POD_NODE = 'ip-10-0-2-45.ec2.internal';
const BROKEN_NODE = 'ip-10-0-3-67.ec2.internal';

function loadCorpus(): Sample[] {
  return readdirSync(CORPUS, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const dir = path.join(CORPUS, entry.name);
      const read = (file: string) => readFileSync(path.join(dir, file), 'utf8');
      return { id: entry.name, text: read('sample.txt'), source: JSON.parse(read('source.json')) as Source, expected: JSON.parse(read('expected.json')) as Expected };
    });
}

/** Whitespace-insensitive, without the Markdown bold some reporters wrapped their paste in, JSON escapes undone. */
const normalize = (text: string) => text.replaceAll('**', '').replaceAll('\\"', '"').replace(/\s+/g, ' ').trim();

type ListBody = { items: Record<string, unknown>[] };

/** The healthy cluster plus the objects the sample's scenario describes, as a fixture folder. */
function scenarioDir(sample: Sample): string {
  const dir = tempDir();
  cpSync(path.join(K8S_FIXTURES, 'healthy'), dir, { recursive: true });
  const edit = (resource: string, change: (body: ListBody) => void) => {
    const file = path.join(dir, `${resource}.json`);
    const body = JSON.parse(readFileSync(file, 'utf8')) as ListBody;
    change(body);
    writeFileSync(file, JSON.stringify(body));
  };
  const scenario = sample.source.scenario;
  const event = (kind: string, name: string) => ({
    metadata: { name: `${name}.corpus`, namespace: NAMESPACE, creationTimestamp: iso(NOW - 20 * MINUTE) },
    involvedObject: { kind, namespace: NAMESPACE, name },
    reason: scenario.reason,
    message: scenario.message,
    type: 'Warning',
    count: scenario.count ?? 1,
    firstTimestamp: iso(NOW - 20 * MINUTE),
    lastTimestamp: iso(NOW - 2 * MINUTE),
  });
  const pod = (scheduled: boolean) => ({
    metadata: { name: POD, namespace: NAMESPACE, creationTimestamp: iso(NOW - 30 * MINUTE) },
    spec: {
      ...(scheduled ? { nodeName: POD_NODE } : {}),
      containers: [{ name: 'app', image: 'clickhouse/clickhouse-server:24.8' }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: CLAIM } }],
    },
    status: scheduled
      ? { phase: 'Pending', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] }
      : { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: scenario.message }] },
  });
  switch (scenario.kind) {
    case 'pod-event':
      edit('pods', (body) => body.items.push(pod(scenario.scheduled !== false)));
      edit('events', (body) => body.items.push({ ...event('Pod', POD), source: { component: scenario.scheduled === false ? 'default-scheduler' : 'kubelet' } }));
      break;
    case 'pvc-event': {
      const storageClass = scenario.storageClass;
      if (storageClass) {
        edit('storageclasses', (body) => {
          if (!body.items.some((item) => (item.metadata as { name?: string }).name === storageClass.name)) {
            body.items.push({ metadata: { name: storageClass.name }, provisioner: storageClass.provisioner, volumeBindingMode: storageClass.volumeBindingMode });
          }
        });
      }
      const className = storageClass?.name ?? /storageclass\.storage\.k8s\.io "([^"]+)"/.exec(scenario.message)?.[1] ?? 'missing';
      edit('persistentvolumeclaims', (body) =>
        body.items.push({
          metadata: {
            name: CLAIM,
            namespace: NAMESPACE,
            creationTimestamp: iso(NOW - 15 * MINUTE),
            ...(scenario.selectedNode ? { annotations: { 'volume.kubernetes.io/selected-node': scenario.selectedNode } } : {}),
          },
          spec: { storageClassName: className, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
          status: { phase: 'Pending' },
        }),
      );
      edit('pods', (body) => body.items.push(pod(false)));
      edit('events', (body) => body.items.push(event('PersistentVolumeClaim', CLAIM)));
      break;
    }
    case 'node-condition':
      edit('nodes', (body) => {
        const node = body.items.find((item) => (item.metadata as { name?: string }).name === BROKEN_NODE)!;
        const status = node.status as { conditions: Record<string, unknown>[] };
        status.conditions = status.conditions.map((condition) =>
          condition.type === scenario.type
            ? { ...condition, status: scenario.status, reason: scenario.reason, message: scenario.message, lastTransitionTime: iso(NOW - 14 * MINUTE) }
            : condition,
        );
      });
      break;
  }
  return dir;
}

interface Outcome {
  id: string;
  heldOut: boolean;
  exitCode: number;
  crashed: boolean;
  right: boolean;
  why: string;
}

function judge(sample: Sample, exitCode: number, stdout: string, stderr: string): Outcome {
  const outcome = (right: boolean, why: string, crashed = false) => ({ id: sample.id, heldOut: sample.source.heldOut !== undefined, exitCode, crashed, right, why });
  // A diagnosis exits 0 (nothing FAILs) or 5 (k8s_checks_failed); anything else, or unparsable output, is a crash.
  if (![0, 5].includes(exitCode)) return outcome(false, `exit ${exitCode}: ${stderr.slice(0, 300)}`, true);
  let checks: JsonCheck[];
  try {
    checks = (JSON.parse(stdout) as { checks: JsonCheck[] }).checks;
  } catch {
    return outcome(false, `stdout is not JSON: ${stdout.slice(0, 200)}`, true);
  }
  const { check, object, status, cause, hint, notHint } = sample.expected;
  const row = checks.find((candidate) => candidate.id === check && candidate.object === object);
  if (!row) return outcome(false, `no ${check} row for ${object}; rows: ${checks.filter((c) => c.status !== 'PASS').map((c) => `${c.status} ${c.id} ${c.object}`).join('; ')}`);
  const lower = (text: string) => text.toLowerCase();
  if (row.status !== status) return outcome(false, `${check} ${object} is ${row.status}, expected ${status}: ${row.evidence}`);
  if (!lower(row.evidence).includes(lower(cause))) return outcome(false, `evidence lacks "${cause}": ${row.evidence}`);
  if (!lower(row.hint).includes(lower(hint))) return outcome(false, `hint lacks "${hint}": ${row.hint}`);
  if (notHint && lower(row.hint).includes(lower(notHint))) return outcome(false, `hint says "${notHint}": ${row.hint}`);
  return outcome(true, 'ok');
}

const samples = loadCorpus();

describe('the real-world Kubernetes corpus', () => {
  it('holds at least 40 samples, each stored with its public source, what was filled in, and the right answer', () => {
    // Given the corpus folder
    // Then it has >= 40 samples, from the issue threads the issue names (and the EFS / S3 drivers)
    expect(samples.length).toBeGreaterThanOrEqual(40);
    for (const sample of samples) {
      expect(sample.source.url, sample.id).toMatch(/^https:\/\/github\.com\/[^/]+\/[^/]+\/(issues|pull)\/\d+$/);
      expect(sample.source.url, sample.id).toContain(`${sample.source.repo}/`);
      expect(sample.source.filledIn, sample.id).not.toBe('');
      expect(['FAIL', 'WARN'], sample.id).toContain(sample.expected.status);
      // And the message the scenario replays is the pasted text (up to wrapping), not a paraphrase
      expect(normalize(sample.text), sample.id).toContain(normalize(sample.source.scenario.message));
    }
    const repos = new Set(samples.map((sample) => sample.source.repo));
    for (const repo of ['kubernetes-sigs/aws-ebs-csi-driver', 'aws/amazon-vpc-cni-k8s', 'kubernetes/kubernetes', 'kubernetes-sigs/aws-efs-csi-driver', 'awslabs/mountpoint-s3-csi-driver']) {
      expect(repos, repo).toContain(repo);
    }
  });

  describe('replayed through byoc k8s diagnose against the mock API server', () => {
    let api: FakeKubeApi;
    let setup: Awaited<ReturnType<typeof k8sWorkspace>>['setup'];
    const outcomes: Outcome[] = [];
    beforeAll(async () => {
      api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
    });
    afterAll(() => api.close());
    // An engineer with approved access (temporary folders live for one test); the clock is the snapshot's.
    beforeEach(async () => {
      ({ setup } = await k8sWorkspace(api, { now: FIXTURE_NOW }));
    });

    it.each(samples.map((sample) => [sample.id, sample] as const))('%s', async (_id, sample) => {
      // Given the healthy cluster with the pasted output placed in it
      api.scenario = scenarioDir(sample);
      // When it is diagnosed as the engineer would
      const { exitCode, stdout, stderr } = await runCli(['k8s', 'diagnose', 'acme-prod', '--json'], setup);
      // Then it does not crash (the verdict itself is scored below, against the issue's 95% target)
      const outcome = judge(sample, exitCode, stdout, stderr);
      outcomes.push(outcome);
      expect(outcome.crashed, outcome.why).toBe(false);
    });

    it('gets the right verdict, cause and hint on at least 95% of samples, and crashes on none', () => {
      const right = outcomes.filter((outcome) => outcome.right).length;
      const crashes = outcomes.filter((outcome) => outcome.crashed).length;
      const percent = (100 * right) / outcomes.length;
      const misses = outcomes.filter((outcome) => !outcome.right);
      const heldOut = outcomes.filter((outcome) => outcome.heldOut);
      // The figures the issue asks for, printed for the report.
      console.log(
        `k8s corpus: ${outcomes.length} samples, right verdict+cause+hint ${right}/${outcomes.length} (${percent.toFixed(1)}%), crashes ${crashes}; ` +
          `held-out subset ${heldOut.filter((outcome) => outcome.right).length}/${heldOut.length}` +
          misses.map((miss) => `\n  miss ${miss.id}: ${miss.why}`).join(''),
      );
      expect(outcomes).toHaveLength(samples.length);
      expect(crashes).toBe(0);
      expect(percent).toBeGreaterThanOrEqual(95);
    });
  });
});
