import { describe, expect, it } from 'vitest';
import { bodies, bodyAccepted } from '../../../src/access/api.js';

const long = (n: number) => 'x'.repeat(n);
const samples: Record<keyof typeof bodies, unknown[]> = {
  create: [
    { service: 'acme-prod', reason: 'bench', duration: '1h' },
    { service: 'acme-prod', reason: '', duration: '1h', ticket: 'T-1', scopes: ['clickhouse'] },
    { service: 'acme-prod', reason: long(2000), duration: long(20), ticket: long(200), scopes: [] },
    { service: 'acme-prod', reason: long(2001), duration: '1h' },
    { service: 'acme-prod', reason: 'r', duration: long(21) },
    { service: '', reason: 'r', duration: '1h' },
    { service: long(101), reason: 'r', duration: '1h' },
    { service: 'acme-prod', reason: 'r', duration: '' },
    { service: 'acme-prod', reason: 'r', duration: '1h', ticket: long(201) },
    { service: 'acme-prod', reason: 'r', duration: '1h', scopes: ['root'] },
    { service: 'acme-prod', reason: 'r', duration: '1h', scopes: 'clickhouse' },
    { service: 'acme-prod', reason: 'r', duration: '1h', requester: 'mallory@vendor.example' },
    { service: 'acme-prod', reason: 'r', duration: '1h', __proto__: null },
    JSON.parse('{"service":"acme-prod","reason":"r","duration":"1h","__proto__":{"requester":"x"}}'),
    { service: 'acme-prod', duration: '1h' },
    { service: 1, reason: 'r', duration: '1h' },
    { service: 'acme-prod', reason: null, duration: '1h' },
    { service: 'acme-prod', reason: 'r', duration: '1h', ticket: null },
    [],
    null,
    'text',
    42,
  ],
  approve: [{}, { comment: 'ok' }, { comment: '' }, { comment: long(2000) }, { comment: long(2001) }, { comment: 1 }, { identity: 'x' }, [], null],
  deny: [{ comment: 'no' }, {}, { comment: '' }, { comment: long(2000) }, { comment: long(2001) }, { comment: 'no', reviewer: 'x' }, null],
  revoke: [{}, { comment: 'done' }, { comment: long(2001) }, { by: 'x' }, []],
  none: [{}, { comment: 'x' }, [], null, 'text'],
  token: [
    { identity: 'alice@vendor.example' },
    { identity: 'alice@vendor.example', ttl: '30d', groups: ['auditors', 'team:db'] },
    { identity: long(200), ttl: long(20), groups: Array.from({ length: 50 }, () => 'g') },
    { identity: long(201) },
    { identity: '' },
    { identity: 'a', ttl: '' },
    { identity: 'a', ttl: long(21) },
    { identity: 'a', groups: [''] },
    { identity: 'a', groups: [long(101)] },
    { identity: 'a', groups: Array.from({ length: 51 }, () => 'g') },
    { identity: 'a', groups: 'auditors' },
    { identity: 'a', groups: [1] },
    { identity: 'a', by: 'mallory' },
    { ttl: '1d' },
    { identity: 1 },
    null,
    [],
  ],
  certificate: [{ csr: 'pem' }, { csr: long(16_384) }, { csr: long(16_385) }, { csr: '' }, {}, { csr: 'pem', identity: 'x' }, { csr: ['pem'] }, null],
};

describe('the plain body checks', () => {
  it.each(Object.keys(samples) as (keyof typeof bodies)[])('accept exactly what the %s schema accepts, as it would parse it', (kind) => {
    for (const body of samples[kind]) {
      // Given a body; When both the plain check and the schema judge it
      const parsed = bodies[kind].safeParse(body);
      // Then they agree, and an accepted body is what the schema would have returned
      expect({ body, accepted: bodyAccepted[kind](body) }).toEqual({ body, accepted: parsed.success });
      if (parsed.success) expect(body).toEqual(parsed.data);
    }
  });
});

describe('request targets', () => {
  it('routes a plain target as it is and any other the way a URL reads it', async () => {
    // Given a served broker (health needs nothing of the broker behind it)
    const { createBrokerServer, listen } = await import('../../../src/access/server.js');
    const { request } = await import('node:http');
    const server = createBrokerServer({} as never);
    const { port } = await listen(server, '127.0.0.1', 0);
    const status = (path: string) =>
      new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    try {
      // When targets are sent that a URL normalises (dot segments, escapes) or that are plain
      // Then they reach the same endpoints as before, and unknown ones are still 404
      expect(await status('/v1/health')).toBe(200);
      expect(await status('/v1/health?verbose=1')).toBe(200);
      expect(await status('/v1/x/../health')).toBe(200);
      // an escape is not decoded (as URL leaves it): an unknown /v1/ endpoint, which needs a token first
      expect(await status('/v1/%68ealth')).toBe(401);
      expect(await status('/v2/health')).toBe(404);
    } finally {
      server.close();
    }
  });
});
