import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClusterReader, ClusterResource, ListOptions, ServerVersion } from '../../src/k8s/cluster-reader.js';
import { ForbiddenError } from '../../src/k8s/errors.js';

/**
 * A ClusterReader over a fixture folder (test/fixtures/k8s/<scenario>/):
 * - `<resource>.json`: the API list body (`{ kind, apiVersion, metadata, items }`); missing -> empty list;
 * - `readyz.txt`: the `/readyz?verbose` body; HTTP 500 when it has a `[-]` line, else 200;
 * - `version.json`: the `/version` body;
 * - `forbidden.json`: resources (`volumeattachments`), `resource@namespace` (`leases@kube-node-lease`),
 *   paths (`/readyz`) or `version` that answer 403.
 * Namespaces, field selectors and label selectors are applied like the API server does for the subset
 * byoc uses. `calls` records every request, for asserting how often the API is hit.
 */
export interface FixtureReader extends ClusterReader {
  calls: string[];
}

export function fixtureReader(dir: string): FixtureReader {
  const forbidden: string[] = existsSync(path.join(dir, 'forbidden.json'))
    ? (JSON.parse(readFileSync(path.join(dir, 'forbidden.json'), 'utf8')) as string[])
    : [];
  const calls: string[] = [];
  return {
    calls,
    async list(resource: ClusterResource, namespace?: string, options: ListOptions = {}) {
      calls.push(`list ${resource}${namespace ? ` -n ${namespace}` : ''}${options.fieldSelector ? ` --field-selector ${options.fieldSelector}` : ''}${options.labelSelector ? ` -l ${options.labelSelector}` : ''}`);
      if (forbidden.includes(resource) || (namespace !== undefined && forbidden.includes(`${resource}@${namespace}`))) {
        throw new ForbiddenError(resource, namespace);
      }
      const file = path.join(dir, `${resource}.json`);
      if (!existsSync(file)) return { items: [] };
      const body = JSON.parse(readFileSync(file, 'utf8')) as { items?: unknown[] };
      const items = (body.items ?? []).filter(
        (item) =>
          (namespace === undefined || fieldValue(item, 'metadata.namespace') === namespace) &&
          matchesFieldSelector(item, options.fieldSelector) &&
          matchesLabelSelector(fieldValue(item, 'metadata.labels') as Record<string, string> | undefined, options.labelSelector),
      );
      return { items };
    },
    async raw(requestPath: string) {
      calls.push(`raw ${requestPath}`);
      const [pathname, query = ''] = requestPath.split('?');
      if (forbidden.includes(pathname!)) {
        return {
          status: 403,
          body: JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `forbidden: User "alice@vendor.example" cannot get path "${pathname}"`,
            reason: 'Forbidden',
            details: {},
            code: 403,
          }),
        };
      }
      const file = path.join(dir, 'readyz.txt');
      if ((pathname !== '/readyz' && pathname !== '/livez') || !existsSync(file)) {
        return { status: 404, body: '404 page not found\n' };
      }
      const verbose = readFileSync(file, 'utf8');
      const failing = /^\[-\]/m.test(verbose);
      const body = query.split('&').includes('verbose') ? verbose : failing ? verbose : 'ok';
      return { status: failing ? 500 : 200, body };
    },
    async version() {
      calls.push('version');
      if (forbidden.includes('version')) throw new ForbiddenError('/version', undefined, { verb: 'get' });
      return JSON.parse(readFileSync(path.join(dir, 'version.json'), 'utf8')) as ServerVersion;
    },
  };
}

export function fieldValue(object: unknown, dotted: string): unknown {
  let current: unknown = object;
  for (const key of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** `a.b=x,c!=y` (also `==`); every term must hold. Missing fields compare as the empty string. */
export function matchesFieldSelector(object: unknown, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const match = /^([^!=]+)(==|=|!=)(.*)$/.exec(term.trim());
    if (!match) throw new Error(`unsupported field selector term: ${term}`);
    const value = String(fieldValue(object, match[1]!) ?? '');
    return match[2] === '!=' ? value !== match[3] : value === match[3];
  });
}

/** `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated (AND). */
export function matchesLabelSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  const terms = selector.match(/[^,(]+(?:\([^)]*\))?/g) ?? [];
  return terms.every((raw) => {
    const term = raw.trim();
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3]!.split(',').map((value) => value.trim());
      const has = labels?.[set[1]!] !== undefined && values.includes(labels[set[1]!]!);
      return set[2] === 'in' ? has : !has;
    }
    const equality = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (equality) {
      const value = labels?.[equality[1]!];
      return equality[2] === '!=' ? value !== equality[3] : value === equality[3];
    }
    if (term.startsWith('!')) return labels?.[term.slice(1)] === undefined;
    return labels?.[term] !== undefined;
  });
}
