import { defineCommand, tsv } from '../src/command.js';
import { ByocError } from '../src/errors.js';
import type { ServiceEntry } from '../src/ui/views/services.js';

interface ServiceList {
  identity: string | undefined;
  services: ServiceEntry[];
  /** why grants are not shown: the broker could not be asked */
  grantsUnknown?: string;
}

export default defineCommand({
  examples: ['byoc services', 'byoc services --json | jq -r \'.services[] | select(.grant) | .name\''],
  async run(_input, ctx): Promise<ServiceList> {
    const configuration = await ctx.config();
    const services = configuration.services();
    const origins = configuration.serviceOrigins();
    const now = ctx.clock.now().getTime();
    let identity: string | undefined;
    let grants: Map<string, NonNullable<ServiceEntry['grant']>> | undefined;
    let grantsUnknown: string | undefined;
    let certificates = new Map<string, NonNullable<ServiceEntry['certificate']>>();
    if (Object.keys(services).length > 0) {
      try {
        const broker = await ctx.client('broker');
        identity = await broker.whoami();
        const approved = await broker.list({ mine: true, status: 'approved' });
        grants = new Map();
        // several approved grants for one service: the one that ends last is the one shown
        for (const request of approved) {
          if (!request.notAfter) continue;
          const remainingMs = Date.parse(request.notAfter) - now;
          const known = grants.get(request.service);
          if (remainingMs > 0 && (!known || known.remainingMs < remainingMs)) grants.set(request.service, { requestId: request.id, notAfter: request.notAfter, remainingMs, scopes: [...request.scopes] });
        }
        const { listCertificates } = await import('../src/pki/store.js');
        certificates = new Map(
          (await listCertificates(ctx.stateDir(), identity)).map((stored) => [
            stored.meta.service,
            { requestId: stored.meta.requestId, notAfter: stored.meta.notAfter, expired: Date.parse(stored.meta.notAfter) <= now },
          ]),
        );
      } catch (error) {
        // The list is the configuration's; what the broker adds is said missing, with why, rather than failing it.
        if (!(error instanceof ByocError)) throw error;
        grantsUnknown = `${error.message}${error.hint ? ` (${error.hint})` : ''}`;
        ctx.log.warn(`grants not shown: ${grantsUnknown}`);
      }
    }
    const entries = Object.entries(services)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, service]): ServiceEntry => ({
        name,
        origin: origins[name]!.from,
        clickhouse: service.clickhouse?.url ?? null,
        kubernetes: service.kubernetes?.server ?? null,
        prometheus: service.prometheus?.url ?? null,
        grant: grants ? (grants.get(name) ?? null) : undefined,
        certificate: certificates.get(name) ?? null,
      }));
    return { identity, services: entries, ...(grantsUnknown ? { grantsUnknown } : {}) };
  },
  json: (result) => ({ ...result, services: result.services.map((entry) => ({ ...entry, grant: entry.grant === undefined ? null : entry.grant })), grantsKnown: result.grantsUnknown === undefined }),
  text: (result) =>
    result.services.length === 0
      ? ''
      : tsv(result.services.map((entry) => [entry.name, entry.origin, entry.clickhouse ?? '-', entry.kubernetes ?? '-', entry.prometheus ?? '-', grantText(entry.grant)])),
  async view(result, render) {
    const { ServicesView } = await import('../src/ui/views/services.js');
    return ServicesView({ ...result, color: render.color, columns: render.columns });
  },
});

/** The grant column of the text output: its request and end, `none`, or `unknown` when the broker was not asked. */
function grantText(grant: ServiceEntry['grant']): string {
  if (grant === undefined) return 'unknown';
  return grant ? `${grant.requestId} until ${grant.notAfter}` : 'none';
}
