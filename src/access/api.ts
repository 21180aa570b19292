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
