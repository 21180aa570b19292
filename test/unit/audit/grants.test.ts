import { describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../src/access/client.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { loadGrants } from '../../../src/audit/grants.js';
import { testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';

const GRANT = { id: 'r-aaaaaaaaaa', service: 'acme-prod', requester: 'alice@vendor.example', approvedAt: '2026-11-21T09:00:00Z', notAfter: '2026-11-21T10:00:00Z' } as AccessRequest;

describe('audit --grants', () => {
  it('reads what byoc access list --json wrote, relative to the working folder, in either shape', async () => {
    // Given both shapes `access list --json` has had: an array, and an object with requests
    const cwd = tempDir({ 'list.json': JSON.stringify([GRANT]), 'nested/doc.json': JSON.stringify({ requests: [GRANT] }) });
    const { ctx } = testContext({ cwd });
    // When loading each by a relative path / Then the requests come back as written
    expect(await loadGrants(ctx, 'list.json')).toEqual([GRANT]);
    expect(await loadGrants(ctx, 'nested/doc.json')).toEqual([GRANT]);
  });

  it('asks the broker for "broker"', async () => {
    // Given a broker that lists one request
    const broker = strictFake<BrokerClient>({ list: async () => [GRANT] }, 'broker');
    const { ctx } = testContext({ clients: { broker: async () => broker } });
    // When / Then
    expect(await loadGrants(ctx, 'broker')).toEqual([GRANT]);
    broker.assertAllCalled();
  });

  it('masks credentials in the broker\'s error (its URL may carry them)', async () => {
    // Given a broker whose failure names its URL with a password and a token
    const broker = strictFake<BrokerClient>({ list: async () => Promise.reject(new Error('cannot reach https://ops:Hunter2@broker.example/?token=Tok3n')) }, 'broker');
    const { ctx } = testContext({ clients: { broker: async () => broker } });
    // When / Then the error keeps the host and masks both
    await expect(loadGrants(ctx, 'broker')).rejects.toThrow('cannot reach https://***@broker.example/?token=***');
  });

  it('refuses a missing or unparsable file, and a document that is not a request list, saying how to write one', async () => {
    const cwd = tempDir({ 'broken.json': '{ not json', 'other.json': JSON.stringify({ grants: [] }), 'null.json': 'null' });
    const { ctx } = testContext({ cwd });
    const hint = 'Write it with: byoc access list --json > grants.json';
    // Given a file that does not exist, and one that is not JSON / Then exit 3, naming the file
    await expect(loadGrants(ctx, 'missing.json')).rejects.toMatchObject({ code: 'grants_unreadable', exitCode: 3, message: expect.stringContaining('missing.json'), hint });
    await expect(loadGrants(ctx, 'broken.json')).rejects.toMatchObject({ code: 'grants_unreadable', exitCode: 3, hint });
    // Given JSON that is not access list's output / Then exit 3 too
    await expect(loadGrants(ctx, 'other.json')).rejects.toMatchObject({ code: 'grants_invalid', exitCode: 3, message: 'other.json is not the output of byoc access list --json', hint });
    await expect(loadGrants(ctx, 'null.json')).rejects.toMatchObject({ code: 'grants_invalid', exitCode: 3 });
  });
});
