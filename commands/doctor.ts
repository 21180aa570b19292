import { defineCommand, tsv } from '../src/command.js';
import { doctorOutcome, type DoctorReport } from '../src/doctor/doctor.js';

export default defineCommand({
  examples: ['byoc doctor', 'byoc doctor acme-prod', 'byoc doctor acme-prod --json | jq ".steps[] | select(.status != \\"PASS\\")"'],
  // Its first step reports a configuration that does not load, then skips what depends on it.
  reportsConfigErrors: true,
  args: { service: { description: 'the customer service (without it: configuration, broker and Tailscale only)' } },
  async run({ service }, ctx): Promise<DoctorReport> {
    const [{ runDoctor }, { DOCTOR_STEPS }] = await Promise.all([import('../src/doctor/doctor.js'), import('../src/doctor/steps.js')]);
    return ctx.progress(service ? `checking the chain to ${service}` : 'checking configuration, broker and Tailscale', runDoctor(ctx, DOCTOR_STEPS, service));
  },
  text: (report) => tsv([['verdict', report.verdict], ...report.steps.map((step) => [step.status, step.id, step.evidence, step.next ?? ''])]),
  async view(report, render) {
    const { DoctorView } = await import('../src/ui/views/doctor.js');
    return DoctorView({ report, color: render.color });
  },
  outcome: doctorOutcome,
});
