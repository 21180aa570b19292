import { defineCommand, option, tsv } from '../../src/command.js';
import { toErrorDocument, type ByocError } from '../../src/errors.js';
import type { Verification } from '../../src/k8s/kubectl-context.js';
import { formatCoarse } from '../../src/util/duration.js';

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
  /** url: as configured; kubeconfigUrl: as written (an override IP when network.resolve names the host) */
  server: { url: string; kubeconfigUrl: string };
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
    const [{ kubernetesEndpoint }, { planKubeconfigEntry }, { mergeKubeconfig }, setup] = await Promise.all([
      import('../../src/k8s/session.js'),
      import('../../src/k8s/kubeconfig-entry.js'),
      import('../../src/k8s/kubeconfig.js'),
      import('../../src/k8s/kubectl-context.js'),
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
      env: await setup.pluginEnv(ctx),
    });
    for (const note of plan.notes) ctx.log.verbose(note);

    if (input.print) {
      const { text } = mergeKubeconfig(undefined, plan.entry, { switchContext: true });
      const { parse } = await import('yaml');
      return { mode: 'print', service, context: contextName, text, document: parse(text) };
    }

    const file = setup.kubeconfigFileFor(ctx, input.kubeconfig);
    const written = await setup.writeKubeconfigContext(file, plan.entry, { switchContext: Boolean(input.switch), now: () => ctx.clock.now() });
    const { verification, error } = await setup.verifyKubeconfigContext(ctx, service, { ...written, context: contextName });
    return {
      mode: 'write',
      service,
      kubeconfig: file,
      context: contextName,
      changed: written.changed,
      backup: written.backup,
      switched: written.switched,
      current: written.current,
      server: { url: endpoint.server, kubeconfigUrl: plan.server },
      verification,
      error,
    };
  },
  json(result) {
    if (result.mode === 'print') return result.document;
    const verification = result.verification;
    return {
      ...writtenFields(result),
      // One object for the API server whether or not it was verified (version null then); `serverUrl` is the
      // 0.1 name of server.kubeconfigUrl, kept as an alias until 0.3.
      server: { url: result.server.url, kubeconfigUrl: result.server.kubeconfigUrl, version: verification?.server.version ?? null },
      serverUrl: result.server.kubeconfigUrl,
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
      ['server', result.server.kubeconfigUrl, verification ? verification.server.version : 'not verified'],
    ];
    if (verification) {
      rows.push(['user', verification.user ?? `${verification.certificateSubject} (the server does not say who it sees)`]);
      rows.push(['certificate', verification.certificate.notAfter, `${formatCoarse(verification.certificate.remainingMs)} left`]);
    }
    return tsv(rows);
  },
  async view(result, render) {
    // --print is a kubeconfig for a file or a pipe: the same YAML on a terminal.
    if (result.mode === 'print') return undefined;
    const { ConnectK8sView } = await import('../../src/ui/views/connect-k8s.js');
    const verification = result.verification;
    return ConnectK8sView({
      ...writtenFields(result),
      serverUrl: result.server.kubeconfigUrl,
      verification: verification
        ? {
            serverVersion: verification.server.version,
            user: verification.user,
            certificateSubject: verification.certificateSubject,
            notAfter: verification.certificate.notAfter,
            remainingMs: verification.certificate.remainingMs,
          }
        : null,
      now: render.now,
      color: render.color,
    });
  },
  outcome: (result) => (result.mode === 'write' ? (result.error ?? undefined) : undefined),
});

/** What this run wrote and switched: the same fields, in the same order, in the JSON document and the view. */
function writtenFields({ service, kubeconfig, context, changed, backup, switched, current }: Written) {
  return { service, kubeconfig, context, changed, backup, switched, current };
}
