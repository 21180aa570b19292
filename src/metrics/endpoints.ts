import { UsageError } from '../errors.js';

/**
 * The only Prometheus HTTP API paths byoc ever calls: reads. The path of every request is taken from this table
 * by byoc; what the user types (PromQL, matchers, times) goes into query parameters only, URL-encoded, so no
 * input can reach admin (`/api/v1/admin/...`), lifecycle (`/-/quit`, `/-/reload`) or remote-write
 * (`/api/v1/write`) paths. Prometheus and Thanos Query serve the same paths.
 */
export const ENDPOINTS = {
  query: '/api/v1/query',
  query_range: '/api/v1/query_range',
  series: '/api/v1/series',
  labels: '/api/v1/labels',
  label_values: '/api/v1/label/{name}/values',
  metadata: '/api/v1/metadata',
  buildinfo: '/api/v1/status/buildinfo',
} as const;

export type Endpoint = keyof typeof ENDPOINTS;

/** Prometheus's own rule for label names (model.LabelNameRE): nothing else may stand in the label-values path. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A request byoc may send: one endpoint of the table, its parameters, and for label values the label's name. */
export interface MetricsCall {
  endpoint: Endpoint;
  params?: readonly (readonly [string, string])[];
  /** label_values only */
  label?: string;
}

/** Refuses a label name that Prometheus would not accept (and that could otherwise change the path). */
export function checkLabelName(name: string): string {
  if (!LABEL_NAME.test(name)) {
    throw new UsageError('label_name_invalid', `"${name}" is not a Prometheus label name`, {
      hint: 'A label name is letters, digits and _ (not starting with a digit), e.g. job or __name__: byoc metrics labels SERVICE lists them.',
    });
  }
  return name;
}

/**
 * The URL of a call: the configured base (its own path prefix kept, e.g. a Thanos behind /thanos), the fixed
 * path of the endpoint, the parameters encoded. Checked once more as built, so a bug here cannot send anything
 * outside the table either.
 */
export function endpointUrl(base: string, call: MetricsCall): URL {
  if (!Object.hasOwn(ENDPOINTS, call.endpoint)) throw new Error(`byoc bug: ${String(call.endpoint)} is not a metrics endpoint`);
  const root = new URL(base);
  const fixed = ENDPOINTS[call.endpoint];
  const path = call.endpoint === 'label_values' ? fixed.replace('{name}', checkLabelName(call.label ?? '')) : fixed;
  const prefix = root.pathname.replace(/\/+$/, '');
  const url = new URL(root.origin);
  url.pathname = `${prefix}${path}`;
  const query = new URLSearchParams();
  for (const [name, value] of call.params ?? []) query.append(name, value);
  url.search = query.toString();
  if (!allowedPath(url.pathname.slice(prefix.length))) throw new Error(`byoc bug: ${url.pathname} is outside the metrics allowlist`);
  return url;
}

/**
 * Whether a request path (after the base's prefix) is one of the table's, spelled exactly: compared as a whole
 * string, so percent-encoding, dot segments, doubled or trailing slashes (anything a proxy or router could read as
 * another path) never match; the one variable segment must be a label name, which has none of those characters.
 */
export function allowedPath(path: string): boolean {
  if ((Object.values(ENDPOINTS) as string[]).includes(path)) return true;
  const label = /^\/api\/v1\/label\/([^/]+)\/values$/.exec(path);
  return label !== null && LABEL_NAME.test(label[1]!);
}
