import { isIP } from 'node:net';
import { z } from 'zod';
import { checkValue } from './kinds.js';
import type { Setting } from './settings.js';

/**
 * The configuration file's schema. Scalar keys come from the settings (each checked by its kind's validator,
 * src/config/kinds.ts, the same code that checks flags and variables); only the structure no flag or variable
 * can set is written here: services, `network.resolve`.
 */

export interface PolicyConfig {
  approvers?: string[];
  approvals?: number;
  maxDuration?: string;
  pendingTtl?: string;
}

export interface ServiceConfig {
  clickhouse?: { url?: string; caFile?: string };
  kubernetes?: { server?: string; caFile?: string; tlsServerName?: string };
  policy?: PolicyConfig;
  /** the customer's own connection for `byoc audit query-log <service>`; a password never lives here */
  audit?: { url?: string; user?: string; passwordEnv?: string; passwordFile?: string; caFile?: string };
}

/** A validated file: the structure typed, every setting in its file form (see Setting.key). */
export interface ConfigData {
  services?: Record<string, ServiceConfig>;
  network?: { proxy?: string; resolve?: Record<string, string> };
  policy?: PolicyConfig;
  [section: string]: unknown;
}

const httpUrl = z.string().refine((value) => /^https?:$/.test(safeProtocol(value)), {
  message: 'expected an http:// or https:// URL',
});

const ipAddress = z.string().refine((value) => isIP(value) !== 0, { message: 'expected an IPv4 or IPv6 address' });

export const serviceNameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { message: 'expected a service name of lowercase letters, digits and dashes' });

/** One setting's value: its kind's validator, and the value in file form (a list from `a,b` is a list). */
function settingSchema(setting: Setting): z.ZodType {
  return z
    .unknown()
    .transform((value, ctx) => {
      const checked = checkValue(setting, value);
      if ('problem' in checked) {
        ctx.issues.push({ code: 'custom', message: checked.problem, input: value });
        return z.NEVER;
      }
      return checked.value;
    })
    .optional();
}

type Shape = { [segment: string]: Shape | z.ZodType };

/** Nested strict objects from dotted keys: `connect.count` and `connect.timeout` make `connect: { count, timeout }`. */
function objectOf(shape: Shape): z.ZodType {
  const fields = Object.fromEntries(
    Object.entries(shape).map(([segment, child]) => [segment, child instanceof z.ZodType ? child : objectOf(child).optional()]),
  );
  return z.strictObject(fields);
}

function place(shape: Shape, key: string, schema: z.ZodType): void {
  const segments = key.split('.');
  let node = shape;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (next instanceof z.ZodType) throw new Error(`${key}: ${segment} is both a setting and a section`);
    node = (node[segment] ??= {}) as Shape;
  }
  node[segments.at(-1)!] = schema;
}

const cache = new WeakMap<readonly Setting[], z.ZodType>();

/** The schema for a file that may set the given settings. */
export function configSchema(settings: readonly Setting[]): z.ZodType {
  const cached = cache.get(settings);
  if (cached) return cached;
  const shape: Shape = {};
  const policy: Shape = {};
  for (const setting of settings) {
    if (setting.inFile === false) continue;
    place(shape, setting.key, settingSchema(setting));
    // A service may override the global policy, key by key, with the same validators.
    if (setting.key.startsWith('policy.')) place(policy, setting.key.slice('policy.'.length), settingSchema(setting));
  }
  const service = z.strictObject({
    clickhouse: z.strictObject({ url: httpUrl.optional(), caFile: z.string().optional() }).optional(),
    kubernetes: z
      .strictObject({
        server: httpUrl.optional(),
        caFile: z.string().optional(),
        tlsServerName: z.string().optional(),
      })
      .optional(),
    policy: objectOf(policy).optional(),
    audit: z
      .strictObject({ url: httpUrl.optional(), user: z.string().optional(), passwordEnv: z.string().optional(), passwordFile: z.string().optional(), caFile: z.string().optional() })
      .optional(),
  });
  place(shape, 'services', z.record(serviceNameSchema, service).optional());
  place(shape, 'network.resolve', z.record(z.string().min(1), ipAddress).optional());
  const schema = objectOf(shape);
  cache.set(settings, schema);
  return schema;
}

function safeProtocol(value: string): string {
  try {
    return new URL(value).protocol;
  } catch {
    return '';
  }
}

type AnySchema = z.ZodType;

/** The schema of one key path (`network.proxy`), or undefined when the schema has no such key. */
export function schemaAt(schema: AnySchema, path: readonly string[]): AnySchema | undefined {
  let current: AnySchema | undefined = schema;
  for (const segment of path) {
    current = current && child(unwrap(current), segment);
  }
  return current;
}

/** Keys an object accepts at a path, for "unknown key" messages. */
export function allowedKeysAt(schema: AnySchema, path: readonly (string | number)[]): string[] {
  const target = schemaAt(schema, path.map(String));
  if (!target) return [];
  const inner = unwrap(target);
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
}

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault) {
    current = current.unwrap() as AnySchema;
  }
  return current;
}

function child(schema: AnySchema, segment: string): AnySchema | undefined {
  if (schema instanceof z.ZodObject) return (schema.shape as Record<string, AnySchema>)[segment];
  if (schema instanceof z.ZodRecord) return schema.valueType as AnySchema;
  return undefined;
}
