import { defineCommand, option, tsv } from '../../src/command.js';
import type { Context } from '../../src/context.js';
import { ByocError, reworded, toErrorDocument } from '../../src/errors.js';
import type { ExecEnvVar } from '../../src/k8s/kubeconfig.js';
import { formatDuration } from '../../src/util/duration.js';

interface Verification {
  server: { url: string; version: string };
  /** who the API server says you are (SelfSubjectReview); null when the cluster forbids or lacks it */
  user: string | null;
  /** the CN of your certificate */
  certificateSubject: string;
  certificate: { notAfter: string; remainingMs: number };
}

interface Written {
  mode: 'write';
  service: string;
  kubeconfig: string;
  context: string;
  changed: boolean;
  backup: string | null;
  /** current-context was pointed at this context by this run */
  switched: boolean;
  /** current-context is this context (now) */
  current: boolean;
  /** the server URL as written (an override IP when network.resolve names the host) */
  serverUrl: string;
  verification: Verification | null;
  error: ByocError | null;
}

interface Printed {
  mode: 'print';
  service: string;
  context: string;
  text: string;
  /** the same kubeconfig as an object, for --json (kubectl reads JSON kubeconfigs too) */
  document: unknown;
}

type ConnectK8sResult = Written | Printed;

export default defineCommand({
  examples: [
    'byoc connect k8s acme-prod',
    'byoc connect k8s acme-prod --switch && kubectl get nodes',
    'byoc connect k8s acme-prod --kubeconfig ~/.kube/acme.yaml --context-name acme',
    'byoc connect k8s acme-prod --print > acme.kubeconfig',
  ],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    kubeconfig: option.path({
      flag: '--kubeconfig <file>', key: 'kubernetes.kubeconfig', env: 'BYOC_KUBECONFIG', defaultNote: 'the first existing KUBECONFIG file (else its last), else ~/.kube/config',
      description: 'the kubeconfig to merge into',
    }),
    contextName: option.string({
      flag: '--context-name <name>', key: 'kubernetes.contextName', env: 'BYOC_KUBE_CONTEXT', defaultNote: 'byoc-<service>',
      description: 'name of the context, cluster and user entries',
    }),
    switch: option.boolean({ flag: '--switch', key: 'kubernetes.switch', env: 'BYOC_KUBE_SWITCH', default: false, description: 'make it the current context' }),
    print: option.boolean({
      flag: '--print', key: 'kubernetes.print', env: 'BYOC_KUBE_PRINT', default: false,
      description: 'print a kubeconfig holding only this context to stdout; write nothing, verify nothing',
    }),
  },
  async run(input, ctx): Promise<ConnectK8sResult> {
    const { service } = input;
    const [{ kubernetesEndpoint, openKubernetes }, { planKubeconfigEntry, currentContextOf }, kubeconfig, { parse }, path] = await Promise.all([
      import('../../src/k8s/session.js'),
      import('../../src/k8s/connect.js'),
      import('../../src/k8s/kubeconfig.js'),
      import('yaml'),
      import('node:path'),
    ]);
    const configuration = await ctx.config();
    const endpoint = await kubernetesEndpoint(ctx, service);
    const contextName = input.contextName ?? `byoc-${service}`;
    const plan = planKubeconfigEntry({
      service,
      contextName,
      server: endpoint.server,
      caPem: endpoint.caPem,
      tlsServerName: endpoint.tlsServerName,
      proxy: configuration.get<string>('network.proxy'),
      resolve: configuration.resolveOverrides(),
      self: ctx.self,
      env: await pluginEnv(ctx),
    });
    for (const note of plan.notes) ctx.log.verbose(note);

    if (input.print) {
      const { text } = kubeconfig.mergeKubeconfig(undefined, plan.entry, { switchContext: true });
      return { mode: 'print', service, context: contextName, text, document: parse(text) };
    }

    const { existsSync } = await import('node:fs');
    const home = ctx.env.HOME || (await import('node:os')).homedir();
    const file = path.resolve(
      ctx.cwd,
      kubeconfig.kubeconfigPathFor({
        flag: input.kubeconfig ? expandHome(input.kubeconfig, home) : undefined,
        env: ctx.env,
        home,
        exists: (candidate) => existsSync(path.resolve(ctx.cwd, candidate)),
      }),
    );
    const existing = await kubeconfig.readKubeconfig(file);
    const before = currentContextOf(existing, parse);
    // A kubeconfig created from nothing gets this context as current: there is nothing else kubectl could use.
    const merged = kubeconfig.mergeKubeconfig(existing, plan.entry, { switchContext: Boolean(input.switch) || existing === undefined });
    let backup: string | null = null;
    if (merged.changed) {
      const written = await kubeconfig.writeKubeconfigAtomically(file, merged.text, { now: () => ctx.clock.now() });
      backup = written.backupPath ?? null;
    }
    const after = merged.changed ? currentContextOf(merged.text, parse) : before;

    const result: Written = {
      mode: 'write',
      service,
      kubeconfig: file,
      context: contextName,
      changed: merged.changed,
      backup,
      switched: after === contextName && before !== contextName,
      current: after === contextName,
      serverUrl: plan.server,
      verification: null,
      error: null,
    };
    try {
      const access = await openKubernetes(ctx, service);
      const version = await access.session.version();
      const user = await access.session.whoAmI();
      result.verification = {
        server: { url: endpoint.server, version: version.gitVersion },
        user: user ?? null,
        certificateSubject: access.certificate.meta.subject,
        certificate: { notAfter: access.certificate.meta.notAfter, remainingMs: access.certificate.remainingMs },
      };
    } catch (error) {
      if (!(error instanceof ByocError) || error.kind === 'interrupted') throw error;
      const what = merged.changed ? `wrote context ${contextName} to ${file}` : `context ${contextName} in ${file} is up to date`;
      result.error = reworded(error, `${what}, but verifying it failed: ${error.message}`);
    }
    return result;
  },
  json(result) {
    if (result.mode === 'print') return result.document;
    const verification = result.verification;
    return {
      service: result.service,
      kubeconfig: result.kubeconfig,
      context: result.context,
      changed: result.changed,
      backup: result.backup,
      switched: result.switched,
      current: result.current,
      serverUrl: result.serverUrl,
      server: verification ? verification.server : null,
      user: verification?.user ?? null,
      certificate: verification ? { subject: verification.certificateSubject, ...verification.certificate } : null,
      verified: verification !== null,
      ...(result.error ? toErrorDocument(result.error) : {}),
    };
  },
  text(result) {
    if (result.mode === 'print') return result.text;
    const verification = result.verification;
    const rows: unknown[][] = [
      ['kubeconfig', result.kubeconfig, result.changed ? 'written' : 'unchanged', result.backup ? `backup ${result.backup}` : ''],
      ['context', result.context, result.current ? 'current' : `not current: kubectl --context ${result.context} get nodes (or --switch)`],
      ['server', result.serverUrl, verification ? verification.server.version : 'not verified'],
    ];
    if (verification) {
      rows.push(['user', verification.user ?? `${verification.certificateSubject} (the server does not say who it sees)`]);
      rows.push(['certificate', verification.certificate.notAfter, `${formatDuration(verification.certificate.remainingMs)} left`]);
    }
    return tsv(rows);
  },
  outcome: (result) => (result.mode === 'write' ? (result.error ?? undefined) : undefined),
});

/**
 * kubectl runs the plugin from its own folder and environment: point it at the same state folder and
 * configuration file, and keep an identity that came from the environment (embedded broker). A served
 * broker's BYOC_TOKEN is a secret and never goes into the file: kubectl's environment must carry it.
 */
async function pluginEnv(ctx: Context): Promise<ExecEnvVar[]> {
  const configuration = await ctx.config();
  const env: ExecEnvVar[] = [{ name: 'BYOC_STATE_DIR', value: ctx.stateDir() }];
  if (configuration.file.path) env.push({ name: 'BYOC_CONFIG', value: configuration.file.path });
  const user = configuration.resolve('user');
  if (user.source === 'env' && !configuration.get<string>('broker.url')) env.push({ name: 'BYOC_USER', value: String(user.value) });
  return env;
}

function expandHome(file: string, home: string): string {
  return file === '~' || file.startsWith('~/') ? `${home}${file.slice(1)}` : file;
}
