import type { ConnectCheckResult, TargetReport } from '../connect/path-check.js';
import type { Context } from '../context.js';
import { formatCoarse } from '../util/duration.js';
import { fail, failFrom, once, pass, warn, type DoctorStep, type Shared } from './doctor.js';

const connectCheckOf = (ctx: Context, service: string, shared: Shared) =>
  once(shared, 'connect', async (): Promise<ConnectCheckResult> => {
    const [{ checkService }, { SHARED }] = await Promise.all([import('../connect/path-check.js'), import('../options.js')]);
    const configuration = await ctx.config();
    const count = configuration.value(SHARED.pingCount);
    const timeoutMs = configuration.value(SHARED.connectTimeout);
    return checkService(ctx, service, { target: 'all', count, timeoutMs, requireDirect: false });
  });

function perTarget(targets: TargetReport[], stage: 'dns' | 'tcp' | 'tls', next: (target: TargetReport) => string | undefined) {
  const lines = targets.map((target) => {
    const result = target[stage];
    if ('skipped' in result) return { target, state: 'skipped' as const, text: `${target.name}: skipped (${result.reason})` };
    const detail = stage === 'dns' && 'addresses' in result ? ` ${result.addresses.join(',')} via ${result.source}` : stage === 'tcp' && 'address' in result && result.address ? ` ${result.address}:${result.port}` : '';
    const error = 'error' in result && result.error ? ` (${result.error.message})` : '';
    return { target, state: result.ok ? ('ok' as const) : ('fail' as const), text: `${target.name}: ${result.ok ? 'ok' : 'failed'}${detail}${'ms' in result && result.ms !== undefined ? ` in ${Math.round(result.ms)}ms` : ''}${error}` };
  });
  const evidence = lines.map((line) => line.text).join('; ');
  const failed = lines.find((line) => line.state === 'fail');
  if (failed) return fail('network', evidence, next(failed.target));
  if (lines.every((line) => line.state === 'skipped')) return { status: 'SKIPPED' as const, evidence };
  return pass(evidence);
}

/**
 * What to fix for a failed stage, in the words `query` and the clients use for the same fault (src/net/failure.ts),
 * so the doctor and a failing command agree.
 */
async function pathHint(service: string, target: TargetReport, stage: 'tcp' | 'tls'): Promise<string | undefined> {
  const result = target[stage];
  if ('skipped' in result || !result.error) return undefined;
  const { diagnose, endpointContext } = await import('../net/failure.js');
  return diagnose(result.error, endpointContext({ endpoint: target.name, url: target.url, service })).hint;
}

/**
 * The doctor's chain. Later capabilities append their own step (ClickHouse, Kubernetes) to this list.
 */
export const DOCTOR_STEPS: DoctorStep[] = [
  {
    id: 'config',
    title: 'Configuration',
    perService: false,
    needs: [],
    async run(ctx, service) {
      const configuration = await ctx.config();
      const where = configuration.file.path ?? 'no file (defaults and environment)';
      if (service) configuration.service(service);
      const services = Object.keys(configuration.services());
      return pass(`${where}; services: ${services.join(', ') || 'none'}`);
    },
  },
  {
    id: 'broker',
    title: 'Access broker',
    perService: false,
    needs: ['config'],
    async run(ctx) {
      const broker = await ctx.client('broker');
      return pass(`${broker.location}, signed in as ${await broker.whoami()}`);
    },
  },
  {
    id: 'request',
    title: 'Access request',
    perService: true,
    needs: ['broker'],
    async run(ctx, service) {
      const broker = await ctx.client('broker');
      const requests = await broker.list({ mine: true, service: service! });
      const approved = requests.find((request) => request.status === 'approved');
      if (approved) return pass(`${approved.id} approved until ${approved.notAfter} (${formatCoarse(Date.parse(approved.notAfter!) - ctx.clock.now().getTime())} left)`);
      const pending = requests.find((request) => request.status === 'pending');
      if (pending) return warn(`${pending.id} is pending approval (lapses at ${pending.pendingUntil})`, `byoc access wait ${pending.id}`);
      const latest = requests[0];
      return fail('not-allowed', latest ? `your latest request ${latest.id} is ${latest.status}` : `no access request for ${service}`, `byoc access request ${service} --reason "..."`);
    },
  },
  {
    id: 'certificate',
    title: 'Certificate',
    perService: true,
    // Not behind the request step: a revoked grant must show here too, with who revoked it and when.
    needs: ['broker'],
    async run(ctx, service) {
      const { storedCertificate, standingOf, refusalFor } = await import('../access/credentials.js');
      const broker = await ctx.client('broker');
      const { identity, stored } = await storedCertificate(ctx, service!);
      if (!stored) {
        const approved = (await broker.list({ mine: true, service: service! })).find((request) => request.status === 'approved');
        if (!approved) return { status: 'SKIPPED', evidence: `no certificate stored for ${identity}, and no approved request to get one for` };
        return fail('not-allowed', `no certificate stored for ${service} (as ${identity})`, `byoc cert get ${service}`);
      }
      // The broker's word, not the file's: a revoked grant's certificate still looks valid on disk.
      const { standing } = await standingOf(broker, stored);
      const refusal = refusalFor(service!, standing, broker.location);
      if (refusal) {
        const other = (await broker.list({ mine: true, service: service! })).find((request) => request.status === 'approved');
        return fail('not-allowed', `${refusal.message} (${stored.meta.subject}, serial ${stored.meta.serial})`, other ? `byoc cert get ${service} (for ${other.id}, still approved)` : refusal.hint);
      }
      const left = Date.parse(stored.meta.notAfter) - ctx.clock.now().getTime();
      if (left <= 0) return fail('not-allowed', `the certificate expired at ${stored.meta.notAfter}`, `byoc access request ${service} --reason "..."`);
      const evidence = `${stored.meta.subject}, request ${stored.meta.requestId} approved, ${formatCoarse(left)} left`;
      return left < 15 * 60_000 ? warn(evidence, `byoc cert get ${service} (or request more time)`) : pass(evidence);
    },
  },
  {
    id: 'tailscale',
    title: 'Tailscale path',
    perService: false,
    needs: ['config'],
    async run(ctx, service, shared) {
      if (!service) {
        const [{ readStatusResult }, { tailscaleState }] = await Promise.all([import('../tailscale/parse.js'), import('../tailscale/classify.js')]);
        const runner = await ctx.client('tailscale');
        let state;
        try {
          state = tailscaleState(readStatusResult(await runner.run(['status', '--json'], { timeoutMs: 10_000 })));
        } catch (error) {
          const { TailscaleNotInstalledError } = await import('../tailscale/runner.js');
          if (!(error instanceof TailscaleNotInstalledError)) return failFrom(error);
          state = tailscaleState({ kind: 'not-installed', bin: error.bin } as never);
        }
        if (state.up) return pass(`tailscaled ${state.state}${state.version ? ` (${state.version})` : ''}`);
        // An unreadable or hung status is tailscale failing (exit 5), not a verdict on the network.
        return fail(state.state === 'error' || state.state === 'timeout' ? 'remote' : 'network', state.message, state.nextStep ?? undefined);
      }
      const result = await connectCheckOf(ctx, service, shared);
      const paths = result.targets.map((target) => `${target.name}: ${target.path}${target.endpoint ? ` via ${target.endpoint}` : target.derpRegion ? ` via DERP ${target.derpRegion}` : ''}${target.router ? ` (router ${target.router.name})` : ''}${target.latencyMs !== null ? ` ${target.latencyMs}ms` : ''}`).join('; ');
      const advice = result.targets.flatMap((target) => target.advice)[0];
      switch (result.verdict) {
        case 'direct':
          return pass(paths);
        case 'relayed':
          return warn(paths, advice);
        case 'unreachable':
          return fail('network', paths, advice);
        case 'tailscale-down':
          return fail('network', result.tailscale.message, result.tailscale.nextStep ?? undefined);
        case 'error':
          return fail('remote', result.tailscale.up ? paths : result.tailscale.message, (result.tailscale.up ? advice : result.tailscale.nextStep) ?? undefined);
      }
    },
  },
  {
    id: 'dns',
    title: 'DNS',
    perService: true,
    needs: ['config'],
    async run(ctx, service, shared) {
      const { targets } = await connectCheckOf(ctx, service!, shared);
      return perTarget(targets, 'dns', (target) => `enable MagicDNS or add network.resolve for ${target.host}`);
    },
  },
  {
    id: 'tcp',
    title: 'TCP',
    perService: true,
    needs: ['dns'],
    async run(ctx, service, shared) {
      const { targets } = await connectCheckOf(ctx, service!, shared);
      const hints = new Map(await Promise.all(targets.map(async (target) => [target, await pathHint(service!, target, 'tcp')] as const)));
      return perTarget(targets, 'tcp', (target) => hints.get(target) ?? target.advice.find((line) => line.startsWith('TCP')) ?? `check ${target.host} is reachable`);
    },
  },
  {
    id: 'tls',
    title: 'TLS',
    perService: true,
    needs: ['tcp'],
    async run(ctx, service, shared) {
      const { targets } = await connectCheckOf(ctx, service!, shared);
      const hints = new Map(await Promise.all(targets.map(async (target) => [target, await pathHint(service!, target, 'tls')] as const)));
      return perTarget(targets, 'tls', (target) => hints.get(target) ?? target.advice.find((line) => /certificate|TLS/.test(line)));
    },
  },
  {
    id: 'clickhouse',
    title: 'ClickHouse',
    perService: true,
    needs: ['certificate'],
    async run(ctx, service) {
      const configuration = await ctx.config();
      const clickhouse = configuration.service(service!).clickhouse;
      if (!clickhouse?.url) return { status: 'SKIPPED', evidence: `no services.${service}.clickhouse.url configured` };
      const [{ openEngineerSession }, { runTagged }] = await Promise.all([import('../clickhouse/engineer.js'), import('../clickhouse/run.js')]);
      const { session, certificate, tags, nextQueryId } = await openEngineerSession(ctx, service!, { timeoutMs: 10_000 });
      try {
        const started = ctx.clock.now().getTime();
        const sql = 'SELECT version() FROM system.one';
        const batches = await runTagged((request) => session.query(request), {
          sql,
          format: 'TabSeparated',
          queryId: nextQueryId(),
          maxRows: 1,
          timeoutMs: 10_000,
          tags,
          signal: ctx.signal,
        });
        let version = '';
        for await (const lines of batches) version ||= lines[0] ?? '';
        return pass(`${clickhouse.url} answers as ${certificate.meta.subject}: ClickHouse ${version} in ${ctx.clock.now().getTime() - started}ms`);
      } finally {
        await session.close();
      }
    },
  },
  {
    id: 'kubernetes',
    title: 'Kubernetes API',
    perService: true,
    needs: ['certificate'],
    async run(ctx, service) {
      const configuration = await ctx.config();
      const server = configuration.service(service!).kubernetes?.server;
      if (!server) return { status: 'SKIPPED', evidence: `no services.${service}.kubernetes.server configured` };
      const { openKubernetes } = await import('../k8s/session.js');
      const { session } = await openKubernetes(ctx, service!, { timeoutMs: 10_000 });
      const version = await session.version();
      const user = await session.whoAmI();
      return pass(`${server} answers: Kubernetes ${version.gitVersion}${user ? `, you are ${user}` : ''}`);
    },
  },
  {
    id: 'metrics',
    title: 'Prometheus (metrics)',
    perService: true,
    needs: ['certificate'],
    async run(ctx, service) {
      const { prometheusOf, openMetricsSession } = await import('../metrics/session.js');
      const prometheus = await prometheusOf(ctx, service!);
      if (!prometheus) return { status: 'SKIPPED', evidence: `no services.${service}.prometheus.url configured` };
      // Reachable, TLS both ways and the grant's metrics scope in one read: the build info, the cheapest call.
      const { client, certificate } = await openMetricsSession(ctx, service!, { timeoutMs: 10_000 });
      try {
        const started = ctx.clock.now().getTime();
        const { data } = await client.call<{ version?: string; revision?: string }>({ endpoint: 'buildinfo' }, ctx.signal);
        const version = data.version ? `Prometheus API ${data.version}${data.revision && /^[0-9a-f]{8,}$/.test(data.revision) ? ` (${data.revision.slice(0, 8)})` : ''}` : 'the Prometheus API';
        return pass(`${prometheus.url} answers as ${certificate.meta.subject}: ${version} in ${ctx.clock.now().getTime() - started}ms`);
      } finally {
        client.close();
      }
    },
  },
];
