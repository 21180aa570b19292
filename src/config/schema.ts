import { isIP } from 'node:net';
import { checkValue } from './kinds.js';
import type { Setting } from './settings.js';

/**
 * The configuration file's schema. Scalar keys come from the settings (each checked by its kind's validator,
 * src/config/kinds.ts, the same code that checks flags and variables); only the structure no flag or variable
 * can set is written here: services, `network.resolve`.
 *
 * Written here rather than with zod (which byoc still uses for the served broker's API): importing zod 4 costs
 * 40-50 ms on Node 20, paid by every command run in a folder with a configuration file, and what is checked here
 * is three shapes (strict mappings, mappings by name, values checked by src/config/kinds.ts). The messages keep
 * zod's wording for a wrong type ("Invalid input: expected string, received number").
 */

export interface PolicyConfig {
  approvers?: string[];
  approvals?: number;
  maxDuration?: string;
  pendingTtl?: string;
}

export interface ServiceConfig {
  /** nativePort: the server's secure native-protocol port, for `byoc cert env --format clickhouse-client` (default 9440) */
  clickhouse?: { url?: string; caFile?: string; nativePort?: number };
  kubernetes?: { server?: string; caFile?: string; tlsServerName?: string };
  /** the Prometheus (or Thanos) HTTP API behind the customer's proxy, for `byoc metrics` */
  prometheus?: { url?: string; caFile?: string; tlsServerName?: string };
  policy?: PolicyConfig;
  /** the customer's own connection for `byoc audit query-log <service>`; a password never lives here */
  audit?: { url?: string; user?: string; passwordEnv?: string; passwordFile?: string; caFile?: string };
  /** the notify.targets this service's requests go to (instead of notify.default) */
  notify?: string[];
}

/** A place the broker tells about requests (src/notify). Secrets come from a variable or a file, never inline. */
export interface NotifyTargetConfig {
  kind?: 'webhook' | 'slack';
  /** webhook only: the receiver's URL (not a secret: the signature authenticates each delivery) */
  url?: string;
  /** the URL from this variable or file (a Slack incoming-webhook URL is itself a secret) */
  urlEnv?: string;
  urlFile?: string;
  /** webhook: the HMAC-SHA256 key, from this variable or file */
  secretEnv?: string;
  secretFile?: string;
  /** only these events (default: all) */
  events?: string[];
}

export interface NotifyConfig {
  targets?: Record<string, NotifyTargetConfig>;
  /** the targets of a service without services.<name>.notify */
  default?: string[];
  /** a link to a request in messages: `{id}` is replaced by its id */
  reviewUrl?: string;
}

/** A validated file: the structure typed, every setting in its file form (see Setting.key). */
export interface ConfigData {
  services?: Record<string, ServiceConfig>;
  network?: { proxy?: string; resolve?: Record<string, string> };
  policy?: PolicyConfig;
  notify?: NotifyConfig;
  [section: string]: unknown;
}

/** One place in the file's structure. */
export type SchemaNode =
  /** a mapping with these keys only (each optional) */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, SchemaNode>> }
  /** a mapping of names chosen by the user (services, host names), each checked by `key`, to `value` */
  | { readonly kind: 'record'; readonly key: (name: string) => string | undefined; readonly value: SchemaNode }
  /** a leaf: the checked value in file form, or what is wrong with it */
  | { readonly kind: 'value'; readonly check: (value: unknown) => { value: unknown } | { problem: string } };

/** What is wrong at one key path. */
export type SchemaIssue =
  | { readonly path: readonly string[]; readonly code: 'unrecognized_keys'; readonly keys: readonly string[] }
  | { readonly path: readonly string[]; readonly code: 'invalid'; readonly message: string };

export type ParseResult = { success: true; data: unknown } | { success: false; issues: SchemaIssue[] };

export interface ConfigSchema {
  readonly root: SchemaNode;
  safeParse(raw: unknown): ParseResult;
}

// A section of the shape being built is a plain mapping of segments; a node is something this module made.
const nodes = new WeakSet<object>();
const made = <N extends SchemaNode>(node: N): N => (nodes.add(node), node);
const isNode = (value: Shape | SchemaNode): value is SchemaNode => nodes.has(value);

/** How zod names a value's type in "Invalid input: expected X, received Y", which byoc's messages have kept. */
function received(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

const wrongType = (expected: string, value: unknown) => ({ problem: `Invalid input: expected ${expected}, received ${received(value)}` });

/** A text leaf, optionally refined: `refine` says what is wrong with the text, or nothing. */
function text(refine?: (value: string) => string | undefined): SchemaNode {
  return made({
    kind: 'value',
    check: (value) => {
      if (typeof value !== 'string') return wrongType('string', value);
      const problem = refine?.(value);
      return problem === undefined ? { value } : { problem };
    },
  });
}

const httpUrl = text((value) => (/^https?:$/.test(safeProtocol(value)) ? undefined : 'expected an http:// or https:// URL'));
const ipAddress = text((value) => (isIP(value) !== 0 ? undefined : 'expected an IPv4 or IPv6 address'));

/** A list of names (notify targets, events), written as a YAML list. */
function nameList(refine?: (name: string) => string | undefined): SchemaNode {
  return made({
    kind: 'value',
    check: (value) => {
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) return wrongType('array of strings', value);
      for (const item of value) {
        const problem = refine?.(item);
        if (problem !== undefined) return { problem };
      }
      return { value };
    },
  });
}

/** The events the broker notifies (src/notify); a target may be given only some of them. */
export const NOTIFY_EVENT_NAMES = ['created', 'approved', 'denied', 'revoked', 'expiring-soon', 'lapsed'] as const;
const TARGET_NAME = /^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$/;
const targetName = (name: string) => (TARGET_NAME.test(name) ? undefined : `"${name}" is not a target name (letters, digits, - and _)`);
const notifyEvent = (name: string) => ((NOTIFY_EVENT_NAMES as readonly string[]).includes(name) ? undefined : `unknown event "${name}"; events: ${NOTIFY_EVENT_NAMES.join(', ')}`);
const variableName = text((value) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? undefined : 'expected an environment variable name'));

const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const serviceName = (name: string) => (SERVICE_NAME.test(name) ? undefined : 'expected a service name of lowercase letters, digits and dashes');

/** One setting's value: its kind's validator, and the value in file form (a list from `a,b` is a list). */
function settingNode(setting: Setting): SchemaNode {
  return made({ kind: 'value', check: (value) => checkValue(setting, value) });
}

type Shape = { [segment: string]: Shape | SchemaNode };

/** Nested strict objects from dotted keys: `connect.count` and `connect.timeout` make `connect: { count, timeout }`. */
function objectOf(shape: Shape): SchemaNode {
  const fields = Object.fromEntries(Object.entries(shape).map(([segment, child]) => [segment, isNode(child) ? child : objectOf(child)]));
  return made({ kind: 'object', fields });
}

function place(shape: Shape, key: string, node: SchemaNode): void {
  const segments = key.split('.');
  let at = shape;
  for (const segment of segments.slice(0, -1)) {
    const next = at[segment];
    if (next && isNode(next)) throw new Error(`${key}: ${segment} is both a setting and a section`);
    at = (at[segment] ??= {}) as Shape;
  }
  at[segments.at(-1)!] = node;
}

/** A TCP port in the file: a whole number, 1-65535. */
const portNumber = made({ kind: 'value', check: (value) => (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535 ? { value } : { problem: 'expected a port number from 1 to 65535' }) });

const object = (fields: Record<string, SchemaNode>): SchemaNode => made({ kind: 'object', fields });

const cache = new WeakMap<readonly Setting[], ConfigSchema>();

/** The schema for a file that may set the given settings. */
export function configSchema(settings: readonly Setting[]): ConfigSchema {
  const cached = cache.get(settings);
  if (cached) return cached;
  const shape: Shape = {};
  const policy: Shape = {};
  for (const setting of settings) {
    if (setting.inFile === false) continue;
    place(shape, setting.key, settingNode(setting));
    // A service may override the global policy, key by key, with the same validators.
    if (setting.key.startsWith('policy.')) place(policy, setting.key.slice('policy.'.length), settingNode(setting));
  }
  const service = object({
    clickhouse: object({ url: httpUrl, caFile: text(), nativePort: portNumber }),
    kubernetes: object({ server: httpUrl, caFile: text(), tlsServerName: text() }),
    prometheus: object({ url: httpUrl, caFile: text(), tlsServerName: text() }),
    policy: objectOf(policy),
    audit: object({ url: httpUrl, user: text(), passwordEnv: text(), passwordFile: text(), caFile: text() }),
    notify: nameList(targetName),
  });
  const target = object({
    kind: text((value) => (value === 'webhook' || value === 'slack' ? undefined : 'expected webhook or slack')),
    url: httpUrl,
    urlEnv: variableName,
    urlFile: text(),
    secretEnv: variableName,
    secretFile: text(),
    events: nameList(notifyEvent),
  });
  place(shape, 'notify', object({ targets: made({ kind: 'record', key: targetName, value: target }), default: nameList(targetName), reviewUrl: httpUrl }));
  place(shape, 'services', made({ kind: 'record', key: serviceName, value: service }));
  place(shape, 'network.resolve', made({ kind: 'record', key: (name) => (name === '' ? 'expected a host name' : undefined), value: ipAddress }));
  const root = objectOf(shape);
  const schema: ConfigSchema = { root, safeParse: (raw) => parseWith(root, raw) };
  cache.set(settings, schema);
  return schema;
}

/** Every problem, not only the first: a person fixes the whole file in one go. */
function parseWith(root: SchemaNode, raw: unknown): ParseResult {
  const issues: SchemaIssue[] = [];
  const data = parseNode(root, raw, [], issues);
  return issues.length === 0 ? { success: true, data } : { success: false, issues };
}

function parseNode(node: SchemaNode, value: unknown, path: string[], issues: SchemaIssue[]): unknown {
  if (node.kind === 'value') {
    const checked = node.check(value);
    if ('problem' in checked) issues.push({ path, code: 'invalid', message: checked.problem });
    return 'value' in checked ? checked.value : undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path, code: 'invalid', message: wrongType(node.kind, value).problem });
    return undefined;
  }
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  if (node.kind === 'object') {
    const unknown = entries.filter(([key]) => !Object.hasOwn(node.fields, key)).map(([key]) => key);
    for (const [key, child] of entries) {
      // An absent key and one written as nothing at all (undefined, never YAML's null) are the same.
      if (!Object.hasOwn(node.fields, key) || child === undefined) continue;
      out[key] = parseNode(node.fields[key]!, child, [...path, key], issues);
    }
    if (unknown.length) issues.push({ path, code: 'unrecognized_keys', keys: unknown });
    return out;
  }
  for (const [key, child] of entries) {
    const problem = node.key(key);
    if (problem !== undefined) issues.push({ path: [...path, key], code: 'invalid', message: `invalid key: ${problem}` });
    else if (child !== undefined) out[key] = parseNode(node.value, child, [...path, key], issues);
  }
  return out;
}

function safeProtocol(value: string): string {
  try {
    return new URL(value).protocol;
  } catch {
    return '';
  }
}

/** The schema of one key path (`network.proxy`), or undefined when the schema has no such key. */
export function schemaAt(schema: ConfigSchema, path: readonly string[]): SchemaNode | undefined {
  let current: SchemaNode | undefined = schema.root;
  for (const segment of path) {
    if (!current) return undefined;
    current = current.kind === 'object' ? (Object.hasOwn(current.fields, segment) ? current.fields[segment] : undefined) : current.kind === 'record' ? current.value : undefined;
  }
  return current;
}

/** Keys an object accepts at a path, for "unknown key" messages. */
export function allowedKeysAt(schema: ConfigSchema, path: readonly (string | number)[]): string[] {
  const target = schemaAt(schema, path.map(String));
  return target?.kind === 'object' ? Object.keys(target.fields) : [];
}
