import { isIP } from 'node:net';
import { z } from 'zod';
import { isDuration } from '../util/duration.js';

const duration = z.string().refine(isDuration, { message: 'expected a duration such as 30m, 8h or 1h30m' });

const httpUrl = z.string().refine((value) => /^https?:$/.test(safeProtocol(value)), {
  message: 'expected an http:// or https:// URL',
});

const proxyUrl = z.string().refine((value) => ['socks5:', 'socks5h:', 'http:', 'https:'].includes(safeProtocol(value)), {
  message: 'expected a proxy URL: socks5://, socks5h://, http:// or https://',
});

const ipAddress = z.string().refine((value) => isIP(value) !== 0, { message: 'expected an IPv4 or IPv6 address' });

const identity = z.string().min(1, { message: 'expected a non-empty identity' });

export const policySchema = z.strictObject({
  approvers: z.array(identity).optional(),
  approvals: z.number().int().min(1).optional(),
  maxDuration: duration.optional(),
  pendingTtl: duration.optional(),
});

export const serviceSchema = z.strictObject({
  clickhouse: z.strictObject({ url: httpUrl.optional(), caFile: z.string().optional() }).optional(),
  kubernetes: z
    .strictObject({
      server: httpUrl.optional(),
      caFile: z.string().optional(),
      tlsServerName: z.string().optional(),
    })
    .optional(),
  policy: policySchema.optional(),
  /** the customer's own connection for `byoc audit query-log <service>`; a password never lives here */
  audit: z
    .strictObject({ url: httpUrl.optional(), user: z.string().optional(), passwordEnv: z.string().optional(), passwordFile: z.string().optional(), caFile: z.string().optional() })
    .optional(),
});

export const serviceNameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { message: 'expected a service name of lowercase letters, digits and dashes' });

export const configSchema = z.strictObject({
  output: z.strictObject({ json: z.boolean(), color: z.boolean(), verbose: z.boolean() }).partial().optional(),
  user: identity.optional(),
  broker: z
    .strictObject({ url: httpUrl.optional(), listen: z.string().optional(), tlsCert: z.string().optional(), tlsKey: z.string().optional(), crlFile: z.string().optional() })
    .optional(),
  access: z
    .strictObject({
      reason: z.string(),
      ticket: z.string(),
      duration,
      scope: z.array(z.enum(['clickhouse', 'kubernetes'])),
      wait: z.boolean(),
      mine: z.boolean(),
      reviewable: z.boolean(),
      status: z.enum(['pending', 'approved', 'denied', 'expired', 'revoked']),
      service: z.string(),
      comment: z.string(),
      timeout: duration,
      operatorFormat: z.enum(['sql', 'xml']),
      request: z.string(),
    })
    .partial()
    .optional(),
  cert: z.strictObject({ minRemaining: duration, renew: z.boolean() }).partial().optional(),
  query: z
    .strictObject({
      format: z.enum(['table', 'json', 'ndjson', 'csv', 'tsv']),
      maxRows: z.number().int().min(0),
      timeout: duration,
      file: z.string(),
      preset: z.string(),
      check: z.boolean(),
    })
    .partial()
    .optional(),
  audit: z
    .strictObject({
      url: httpUrl,
      user: z.string(),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' }),
      caFile: z.string(),
      certFile: z.string(),
      keyFile: z.string(),
      cluster: z.string(),
      sourceTable: z.string(),
      since: z.string(),
      until: z.string(),
      engineer: z.array(z.string()),
      request: z.string(),
      userPattern: z.string(),
      grants: z.string(),
      queries: z.boolean(),
      findingsOnly: z.boolean(),
      follow: z.boolean(),
      flush: z.boolean(),
      format: z.enum(['table', 'json', 'ndjson', 'csv']),
      interval: duration,
    })
    .partial()
    .optional(),
  connect: z
    .strictObject({ target: z.enum(['clickhouse', 'kubernetes', 'all']), requireDirect: z.boolean(), count: z.number().int().min(1).max(20), timeout: duration })
    .partial()
    .optional(),
  kubernetes: z
    .strictObject({ kubeconfig: z.string().min(1), contextName: z.string().min(1), switch: z.boolean(), print: z.boolean(), since: duration })
    .partial()
    .optional(),
  network: z
    .strictObject({
      proxy: proxyUrl.optional(),
      resolve: z.record(z.string().min(1), ipAddress).optional(),
    })
    .optional(),
  services: z.record(serviceNameSchema, serviceSchema).optional(),
  policy: policySchema.optional(),
  tailscale: z.strictObject({ bin: z.string().min(1).optional() }).optional(),
  sandbox: z
    .strictObject({ install: z.boolean(), purge: z.boolean(), clickhouseBin: z.string().min(1), nginxBin: z.string().min(1) })
    .partial()
    .optional(),
});

export type ConfigData = z.infer<typeof configSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;

function safeProtocol(value: string): string {
  try {
    return new URL(value).protocol;
  } catch {
    return '';
  }
}

type AnySchema = z.ZodType;

/** The schema of one key path (`network.proxy`), or undefined when the schema has no such key. */
export function schemaAt(path: readonly string[], schema: AnySchema = configSchema): AnySchema | undefined {
  let current: AnySchema | undefined = schema;
  for (const segment of path) {
    current = current && child(unwrap(current), segment);
  }
  return current;
}

/** Keys an object accepts at a path, for "unknown key" messages. */
export function allowedKeysAt(path: readonly (string | number)[], schema: AnySchema = configSchema): string[] {
  const target = schemaAt(path.map(String), schema);
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
