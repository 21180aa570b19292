/**
 * A served broker for a team, opened through the real wiring (openBroker with a configuration file: two services
 * with their own approvers, `broker.admins`, holding the store as `byoc broker serve` does) and served on loopback.
 * Tests talk to it with raw HTTP (node:http, choosing the source address) from outside byoc.
 */
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach } from 'vitest';
import type { AccessBroker } from '../../../src/access/broker.js';
import { openBroker } from '../../../src/access/open.js';
import { createBrokerServer, listen, type ServeOptions } from '../../../src/access/server.js';
import { testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { MovableClock } from './served-broker.js';

export const ROLES = {
  requester: 'alice@vendor.example',
  approver: 'bob@vendor.example',
  otherApprover: 'erin@vendor.example',
  auditor: 'dave@vendor.example',
  stranger: 'mallory@vendor.example',
  admin: 'ops@vendor.example',
} as const;
export type Role = keyof typeof ROLES;

const CONFIG = `services:
  acme-prod: { policy: { approvers: [${ROLES.approver}] } }
  beta-prod: { policy: { approvers: [${ROLES.otherApprover}] } }
broker: { admins: [${ROLES.admin}] }
`;

const open: { server: Server; broker: AccessBroker }[] = [];
afterEach(async () => {
  for (const { server, broker } of open.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await broker.close();
  }
});

/** The broker of a state folder as `byoc broker serve` opens it (store held), with the team's configuration. */
export async function openTeamBroker(stateDir: string, clock: MovableClock, options: { hold?: boolean; config?: string } = {}) {
  const cwd = tempDir({ 'byoc.config.yaml': options.config ?? CONFIG });
  const { ctx } = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir }, clock });
  return openBroker(ctx, await ctx.config(), { hold: options.hold ?? true });
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever the broker answered
  body: any;
}

export async function serveTeamBroker(options: Pick<ServeOptions, 'verifyBearer' | 'rateLimit'> & { config?: string } = {}) {
  const stateDir = tempDir();
  const clock = new MovableClock(new Date());
  const broker = await openTeamBroker(stateDir, clock, options.config ? { config: options.config } : {});
  const server = createBrokerServer(broker, { ...(options.verifyBearer ? { verifyBearer: options.verifyBearer } : {}), ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}) });
  open.push({ server, broker });
  const { port } = await listen(server, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;
  const tokens = {} as Record<Role, string>;
  for (const [role, identity] of Object.entries(ROLES) as [Role, string][]) {
    tokens[role] = (await broker.issueToken(undefined, { identity, ...(role === 'auditor' ? { groups: ['auditors'] } : {}) })).token;
  }
  /** One HTTP request from `localAddress` (127.0.0.1 unless said), read whole. */
  const raw = (method: string, path: string, init: { token?: string; body?: unknown; localAddress?: string; accept?: string } = {}) =>
    new Promise<RawResponse>((resolve, reject) => {
      const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
      const outgoing = httpRequest({
        host: '127.0.0.1',
        port,
        method,
        path,
        localAddress: init.localAddress ?? '127.0.0.1',
        agent: false,
        headers: {
          ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...(init.accept ? { accept: init.accept } : {}),
        },
      });
      outgoing.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // PEM and other text stays text
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
      });
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  /** As one role, from 127.0.0.1. */
  const as = (role: Role) => ({
    get: (path: string) => raw('GET', path, { token: tokens[role] }),
    post: (path: string, body: unknown = {}) => raw('POST', path, { token: tokens[role], body }),
  });
  return { url, port, stateDir, broker, clock, tokens, raw, as };
}
