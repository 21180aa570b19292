/**
 * The authorization matrix: who sees and may do what, from outside byoc (raw HTTP against a real served broker,
 * and the CLI against an embedded one). Roles: the requester, an approver of the request's service, an approver of
 * another service, a member of the auditors group, a stranger with a valid token, and a broker admin (who is no
 * approver). A request someone may not see is answered exactly as one that does not exist (404).
 */
import { describe, expect, it } from 'vitest';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { MovableClock } from './served-broker.js';
import { openTeamBroker, ROLES, serveTeamBroker, type Role } from './team-broker.js';

const REQUEST = { service: 'acme-prod', reason: 'merges stuck (INC-4821)', ticket: 'INC-4821', duration: '1h' };

type Expected = number | [status: number, code: string];
type Action = 'list' | 'show' | 'operatorConfig' | 'approve' | 'revoke' | 'certificate' | 'tokens';

/** What each role gets, per action, on alice's acme-prod request. list: whether it is listed. */
const MATRIX: Record<Role, Record<Action, Expected | boolean>> = {
  requester: { list: true, show: 200, operatorConfig: 200, approve: [403, 'self_review'], revoke: 200, certificate: 201, tokens: [403, 'not_an_admin'] },
  approver: { list: true, show: 200, operatorConfig: 200, approve: 200, revoke: 200, certificate: [403, 'not_requester'], tokens: [403, 'not_an_admin'] },
  otherApprover: { list: false, show: 404, operatorConfig: 404, approve: 404, revoke: 404, certificate: 404, tokens: [403, 'not_an_admin'] },
  auditor: { list: true, show: 200, operatorConfig: 200, approve: [403, 'not_an_approver'], revoke: [403, 'not_allowed_to_revoke'], certificate: [403, 'not_requester'], tokens: [403, 'not_an_admin'] },
  stranger: { list: false, show: 404, operatorConfig: 404, approve: 404, revoke: 404, certificate: 404, tokens: [403, 'not_an_admin'] },
  admin: { list: false, show: 404, operatorConfig: 404, approve: 404, revoke: 404, certificate: 404, tokens: 200 },
};

const roles = Object.keys(MATRIX) as Role[];

describe('the authorization matrix over HTTP (static tokens; groups from the token)', () => {
  it.each(roles)('%s', async (role) => {
    // Given a served broker with one request of each kind by the requester
    const served = await serveTeamBroker();
    const { broker, as } = served;
    const pending = (await broker.create(ROLES.requester, REQUEST)).id;
    const approved = async () => {
      const id = (await broker.create(ROLES.requester, REQUEST)).id;
      await broker.approve(ROLES.approver, id);
      return id;
    };
    const beta = (await broker.create(ROLES.requester, { ...REQUEST, service: 'beta-prod' })).id;
    const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ROLES[role] }]);
    const missing = 'r-0000000000';
    const notFound = (await as(role).get(`/v1/requests/${missing}`)).body.error;
    const expected = MATRIX[role];
    // When the role does each thing
    const answers: Record<Exclude<Action, 'list'>, { status: number; body: { error?: { code: string; message: string; hint?: string } } }> = {
      show: await as(role).get(`/v1/requests/${pending}`),
      operatorConfig: await as(role).get(`/v1/requests/${await approved()}/operator-config`),
      approve: await as(role).post(`/v1/requests/${pending}/approve`),
      revoke: await as(role).post(`/v1/requests/${await approved()}/revoke`),
      certificate: await as(role).post(`/v1/requests/${await approved()}/certificate`, { csr }),
      tokens: await as(role).get('/v1/tokens'),
    };
    const listed = (await as(role).get('/v1/requests')).body.requests.map((request: { id: string }) => request.id);
    // Then each answer is the matrix's, and a refusal says why (a code and a hint)
    expect(listed.includes(pending)).toBe(expected.list);
    for (const [action, response] of Object.entries(answers) as [Exclude<Action, 'list'>, (typeof answers)[keyof typeof answers]][]) {
      const want = expected[action] as Expected;
      const [status, code] = typeof want === 'number' ? [want, undefined] : want;
      expect({ action, status: response.status }).toEqual({ action, status });
      if (code) expect({ action, code: response.body.error?.code, hint: Boolean(response.body.error?.hint) }).toEqual({ action, code, hint: true });
      // A request one may not see is answered exactly as a request that does not exist: nothing to probe
      const anyId = (error: object | undefined) => JSON.parse(JSON.stringify(error).replace(/r-[0-9a-z]{10}/g, 'ID'));
      if (status === 404) expect({ action, error: anyId(response.body.error) }).toEqual({ action, error: anyId(notFound) });
      // and the body never carries the request's reason or ticket
      if (status >= 400) expect(JSON.stringify(response.body)).not.toContain('INC-4821');
    }
    // And an approver of another service sees the requests of that one, and only those
    if (role === 'otherApprover') expect(listed).toEqual([beta]);
    if (role === 'approver') expect(listed).not.toContain(beta);
  });

  it('the CA and the CRL stay public; the CRL with its request ids needs a token', async () => {
    const { raw } = await serveTeamBroker();
    expect((await raw('GET', '/v1/ca')).body).toContain('BEGIN CERTIFICATE');
    expect((await raw('GET', '/v1/crl')).body).toContain('BEGIN X509 CRL');
    expect((await raw('GET', '/v1/crl', { accept: 'application/json' })).status).toBe(401);
  });

  it('groups from an identity provider (verifyBearer) decide visibility like token groups', async () => {
    // Given a broker whose JWT check says dave (an auditor by the provider's groups) or mallory (no groups)
    const jwt = (name: string) => `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(name).toString('base64url')}.c2ln`;
    const { broker, raw } = await serveTeamBroker({
      verifyBearer: async (token) => {
        const who = Buffer.from(token.split('.')[1]!, 'base64url').toString();
        return who === 'dave' ? { identity: ROLES.auditor, groups: ['auditors'], via: 'oidc' } : { identity: ROLES.stranger, groups: [], via: 'oidc' };
      },
    });
    const id = (await broker.create(ROLES.requester, REQUEST)).id;
    // Then the auditor sees it, and the stranger gets 404
    expect((await raw('GET', `/v1/requests/${id}`, { token: jwt('dave') })).status).toBe(200);
    expect((await raw('GET', '/v1/whoami', { token: jwt('dave') })).body).toEqual({ identity: ROLES.auditor, groups: ['auditors'], via: 'oidc' });
    expect((await raw('GET', `/v1/requests/${id}`, { token: jwt('mallory') })).status).toBe(404);
    expect((await raw('GET', '/v1/requests', { token: jwt('mallory') })).body.requests).toEqual([]);
  });

  it('the auditors group is configurable (broker.auditorsGroup)', async () => {
    const config = `services:\n  acme-prod: { policy: { approvers: [${ROLES.approver}] } }\nbroker: { auditorsGroup: security }\n`;
    const { broker, raw } = await serveTeamBroker({ config });
    const id = (await broker.create(ROLES.requester, REQUEST)).id;
    const security = await broker.issueToken(undefined, { identity: 'sec@vendor.example', groups: ['security'] });
    const auditors = await broker.issueToken(undefined, { identity: 'aud@vendor.example', groups: ['auditors'] });
    expect((await raw('GET', `/v1/requests/${id}`, { token: security.token })).status).toBe(200);
    expect((await raw('GET', `/v1/requests/${id}`, { token: auditors.token })).status).toBe(404);
  });
});

describe('the same rules embedded (BYOC_USER, groups from BYOC_GROUPS)', () => {
  it('lists and shows to the requester, the approver and an auditor; not found for the others', async () => {
    // Given an embedded broker with a request by alice
    const stateDir = tempDir();
    const clock = new MovableClock(new Date());
    const broker = await openTeamBroker(stateDir, clock, { hold: false });
    const id = (await broker.create(ROLES.requester, REQUEST)).id;
    const cwd = tempDir({
      'byoc.config.yaml': `services:\n  acme-prod: { policy: { approvers: [${ROLES.approver}] } }\n  beta-prod: { policy: { approvers: [${ROLES.otherApprover}] } }\n`,
    });
    const as = (identity: string, groups = '') => (argv: string[]) => runCli(argv, { cwd, clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: identity, ...(groups ? { BYOC_GROUPS: groups } : {}) } });
    // When each identity lists and shows it
    for (const [identity, groups, sees] of [
      [ROLES.requester, '', true],
      [ROLES.approver, '', true],
      [ROLES.auditor, 'auditors', true],
      [ROLES.otherApprover, '', false],
      [ROLES.stranger, '', false],
      [ROLES.stranger, 'team:db', false],
    ] as const) {
      const list = await as(identity, groups)(['access', 'list', '--json']);
      const show = await as(identity, groups)(['access', 'show', id, '--json']);
      // Then the requester, the approver and the auditor see it; the others do not, as if it did not exist (exit 2)
      expect({ identity, groups, listed: JSON.parse(list.stdout).requests.map((request: { id: string }) => request.id) }).toEqual({ identity, groups, listed: sees ? [id] : [] });
      expect({ identity, groups, exit: show.exitCode }).toEqual({ identity, groups, exit: sees ? 0 : 2 });
      if (!sees) expect(show.stderr).toContain(`no access request ${id}`);
    }
    // And a stranger cannot approve or revoke it either: not found
    const approve = await as(ROLES.stranger)(['access', 'approve', id]);
    expect(approve.exitCode).toBe(2);
    expect(approve.stderr).toContain(`no access request ${id}`);
    // And the auditor who is no approver is told so (exit 4)
    const auditorApproves = await as(ROLES.auditor, 'auditors')(['access', 'approve', id]);
    expect(auditorApproves.exitCode).toBe(4);
    expect(auditorApproves.stderr).toContain('not a designated approver');
  });
});
