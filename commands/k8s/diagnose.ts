import { defineCommand, option, tsv } from '../../src/command.js';
import { RemoteError } from '../../src/errors.js';
import type { Check, DiagnosticArea } from '../../src/k8s/diagnose.js';

const AREAS = ['volumes', 'nodes', 'health', 'all'] as const;

export interface DiagnoseResult {
  service: string;
  server: string;
  areas: DiagnosticArea[];
  sinceMs: number;
  checks: Check[];
}

export default defineCommand({
  examples: [
    'byoc k8s diagnose acme-prod',
    'byoc k8s diagnose acme-prod volumes --since 6h',
    'byoc k8s diagnose acme-prod nodes --json | jq \'.checks[] | select(.status == "FAIL")\'',
  ],
  args: {
    service: { description: 'the customer service', required: true },
    area: { description: 'what to check: volumes, nodes, health or all (default)', choices: AREAS },
  },
  options: {
    since: option.duration({ flag: '--since <duration>', key: 'kubernetes.since', env: 'BYOC_K8S_SINCE', default: '1h', description: 'how far back to read Warning events' }),
  },
  async run({ service, area, since }, ctx): Promise<DiagnoseResult> {
    const [{ openKubernetes }, { runDiagnostics, DIAGNOSTIC_AREAS }] = await Promise.all([import('../../src/k8s/session.js'), import('../../src/k8s/diagnose.js')]);
    const areas = !area || area === 'all' ? [...DIAGNOSTIC_AREAS] : [area as DiagnosticArea];
    const sinceMs = since;
    const { session, endpoint } = await openKubernetes(ctx, service);
    const checks = await runDiagnostics(session, { areas, since: sinceMs, now: ctx.clock.now() });
    return { service, server: endpoint.server, areas, sinceMs, checks };
  },
  json: (result) => ({
    service: result.service,
    checks: result.checks.map((check) => ({
      id: check.id,
      area: check.area,
      status: check.status,
      object: check.object ?? null,
      evidence: check.evidence,
      hint: check.hint,
      kubectl: check.kubectl,
    })),
  }),
  text: (result) => tsv(result.checks.map((check) => [check.status, check.area, check.id, check.object ?? '', check.evidence, check.hint, check.kubectl])),
  async view(result, render) {
    const { K8sDiagnoseView } = await import('../../src/ui/views/k8s-diagnose.js');
    return K8sDiagnoseView({ result, color: render.color, columns: render.columns });
  },
  outcome(result) {
    const failing = result.checks.filter((check) => check.status === 'FAIL');
    if (failing.length === 0) return undefined;
    const ids = [...new Set(failing.map((check) => check.id))];
    return new RemoteError('k8s_checks_failed', `${failing.length} check${failing.length === 1 ? '' : 's'} FAIL on ${result.service}: ${ids.join(', ')}`, {
      hint: 'Each FAIL row has a hint and the kubectl command to look closer.',
    });
  },
});
