import { z } from 'zod';
import { SCOPES, STATUSES } from './types.js';

/** Request bodies of API v1. Strict: an unknown field (say, `requester`) is a 400, so identity can never ride in a body. */
export const bodies = {
  create: z.strictObject({
    service: z.string().min(1).max(100),
    scopes: z.array(z.enum(SCOPES)).max(SCOPES.length).optional(),
    reason: z.string().max(2000),
    ticket: z.string().max(200).optional(),
    duration: z.string().min(1).max(20),
  }),
  approve: z.strictObject({ comment: z.string().max(2000).optional() }),
  deny: z.strictObject({ comment: z.string().min(1).max(2000) }),
  revoke: z.strictObject({ comment: z.string().max(2000).optional() }),
  certificate: z.strictObject({ csr: z.string().min(1).max(16_384) }),
  /** a body that carries nothing (revoking a token) */
  none: z.strictObject({}),
  /** a new static token (admins only); the identity is the token's user, not the caller */
  token: z.strictObject({
    identity: z.string().min(1).max(200),
    ttl: z.string().min(1).max(20).optional(),
    groups: z.array(z.string().min(1).max(100)).max(50).optional(),
  }),
};

const isString = (value: unknown, min: number, max: number): value is string => typeof value === 'string' && value.length >= min && value.length <= max;

/** Only the given keys, each of them passing its check (an optional one may be missing). */
function only(value: unknown, checks: Record<string, [optional: boolean, check: (field: unknown) => boolean]>): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!Object.hasOwn(checks, key)) return false;
  for (const [key, [optional, check]] of Object.entries(checks)) {
    if (!Object.hasOwn(record, key) ? !optional : !check(record[key])) return false;
  }
  return true;
}

/**
 * The same rules as {@link bodies}, as plain checks: a body that passes is used as it is, one that fails goes
 * through the schema, which says what is wrong. zod's parse was a measurable part of a served broker's request;
 * a test holds these to the schemas on every kind of body.
 */
export const bodyAccepted: Record<keyof typeof bodies, (value: unknown) => boolean> = {
  create: (value) =>
    only(value, {
      service: [false, (field) => isString(field, 1, 100)],
      scopes: [true, (field) => Array.isArray(field) && field.length <= SCOPES.length && field.every((scope) => (SCOPES as readonly unknown[]).includes(scope))],
      reason: [false, (field) => isString(field, 0, 2000)],
      ticket: [true, (field) => isString(field, 0, 200)],
      duration: [false, (field) => isString(field, 1, 20)],
    }),
  approve: (value) => only(value, { comment: [true, (field) => isString(field, 0, 2000)] }),
  deny: (value) => only(value, { comment: [false, (field) => isString(field, 1, 2000)] }),
  revoke: (value) => only(value, { comment: [true, (field) => isString(field, 0, 2000)] }),
  certificate: (value) => only(value, { csr: [false, (field) => isString(field, 1, 16_384)] }),
  none: (value) => only(value, {}),
  token: (value) =>
    only(value, {
      identity: [false, (field) => isString(field, 1, 200)],
      ttl: [true, (field) => isString(field, 1, 20)],
      groups: [true, (field) => Array.isArray(field) && field.length <= 50 && field.every((group) => isString(group, 1, 100))],
    }),
};

export const listQuery = z.strictObject({
  mine: z.enum(['true', 'false']).optional(),
  reviewable: z.enum(['true', 'false']).optional(),
  status: z.enum(STATUSES).optional(),
  service: z.string().optional(),
});

export const MAX_BODY_BYTES = 64 * 1024;

export function describeZodError(error: z.ZodError, where: string): string {
  return error.issues
    .map((issue) => {
      const at = [where, ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys') return `${at}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
      return `${at}: ${issue.message}`;
    })
    .join('; ');
}
