import type { ClientFactories } from './context.js';

/**
 * The real client factories. Each imports its implementation only when called, so commands that do not
 * talk to a remote pay nothing for it at start-up.
 */
export function defaultClients(): Partial<ClientFactories> {
  return {
    broker: async (ctx) => (await import('./access/open.js')).connectBroker(ctx),
    // The deployments the broker operates itself, each registered for its service.
    // byoc login on a TTY opens the sign-in page here
    browser: async () => (await import('./auth/browser.js')).systemBrowser,
    operators: async () => [(await import('./sandbox/broker-operator.js')).sandboxOperator],
    clickhouse: async () => (await import('./clickhouse/client.js')).clickhouseConnector,
    kubernetes: async () => (await import('./k8s/client.js')).kubernetesConnector,
    // The LocalAPI answers status and ping when its socket is there; the CLI does the rest and stands in for it.
    tailscale: async (ctx) => {
      const [{ createExecaRunner }, { createLocalApiRunner }, configuration] = await Promise.all([
        import('./tailscale/runner.js'),
        import('./tailscale/localapi.js'),
        ctx.config(),
      ]);
      const cli = createExecaRunner({ bin: configuration.get<string>('tailscale.bin')!, env: ctx.env });
      return createLocalApiRunner({ socket: configuration.get<string>('tailscale.socket')!, cli });
    },
  };
}
