import { describe, expect, it } from 'vitest';
import { parseServerUser, serverUserFor } from '../../../src/access/server-user.js';

describe('one server user per grant', () => {
  it('carries the request id and the identity, and reads both back exactly', () => {
    // Given a request and its engineer / When named / Then the name is safe for XML and SQL and reversible
    const user = serverUserFor('r-0abc123xyz', 'alice@vendor.example');
    expect(user).toBe('byoc_r_0abc123xyz_alice_40vendor_2eexample');
    expect(user).toMatch(/^[a-z0-9_]+$/);
    expect(parseServerUser(user)).toEqual({ requestId: 'r-0abc123xyz', identity: 'alice@vendor.example' });
  });

  it('keeps identities that used to fold alike apart', () => {
    // Given two identities that the per-engineer name folded to byoc_alice_vendor_example
    const one = serverUserFor('r-0000000001', 'alice.vendor@example');
    const other = serverUserFor('r-0000000001', 'alice@vendor.example');
    // Then even under one request id their users differ, and each reads back as itself
    expect(one).not.toBe(other);
    expect(parseServerUser(one)?.identity).toBe('alice.vendor@example');
    expect(parseServerUser(other)?.identity).toBe('alice@vendor.example');
  });

  it('keeps two requests of the same engineer apart', () => {
    expect(serverUserFor('r-0000000001', 'a@b')).not.toBe(serverUserFor('r-0000000002', 'a@b'));
  });

  it('round-trips upper case, underscores and non-ASCII identities', () => {
    for (const identity of ['Alice@Vendor.Example', 'a_b@c', 'zoë@vendor.example', 'x_41']) {
      expect(parseServerUser(serverUserFor('r-0abc123xyz', identity))?.identity).toBe(identity);
    }
  });

  it('is not fooled by other users', () => {
    // Given the customer's own users and a legacy per-engineer user / Then none reads as a grant
    for (const user of ['default', 'customer_admin', 'byoc_alice_vendor_example', 'byoc_r_abc', 'byoc_r_abc_', 'byoc_r_abc_x_4', 'byoc_r_abc_X']) {
      expect(parseServerUser(user)).toBeUndefined();
    }
  });

  it('refuses what is not a request id', () => {
    expect(() => serverUserFor('alice', 'a@b')).toThrow(/not a request id/);
  });
});
