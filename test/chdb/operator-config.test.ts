/**
 * The operator step on a current ClickHouse: every statement `byoc access operator-config` renders is parsed by a
 * real, current ClickHouse engine (chdb embeds it), and the users.d variant is loaded by it.
 *
 * chdb is large (about 540 MB), so it lives in its own package here (test/chdb/package.json), outside the main
 * install. Absent: skipped with the install command, except under CI=true, where this proof must run.
 *
 * What chdb cannot do: execute CREATE USER / GRANT / DROP USER. It is clickhouse-local, whose only access storage
 * is the read-only users.xml one ("no writeable access storage in user directories"), and it never reads
 * access_control_improvements, so settings_constraints_replace_previous stays off. The SQL is therefore proven by
 * the engine's parser (formatQuery), and the XML by loading it as a users.d file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHDB_PACKAGE_JSON, chdbFor } from './engine.js';
import type { AccessBroker } from '../../src/access/broker.js';
import { CHANGEABLE_SETTINGS, PINNED_SETTINGS } from '../../src/access/operator.js';
import { serverUserFor } from '../../src/access/server-user.js';
import type { AccessRequest, OperatorConfig } from '../../src/access/types.js';
import { FakeClock } from '../fakes/context.js';
import { openTestBroker } from '../fakes/broker.js';
import { tempDir } from '../fakes/fs.js';

const chdb = chdbFor('operator-config on a current ClickHouse (chdb)');

const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';
const HOUR = 3_600_000;

/** Identities as the broker accepts them (any non-empty string): the odd ones must stay inert in the SQL. */
const IDENTITIES = [
  'alice@vendor.example',
  "o'brien+ops@Vendor.Example",
  'mallory\n; DROP USER default; --@vendor.example',
  'back\\slash/*x*/"q"@vendor.example',
  'zoë.åström@vendor.example',
];
const REASON = "it's stuck\n; DROP USER default; --";
const TICKET = "INC-'42'\n--";

/** A ClickHouse string literal. */
function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function formatQuery(statement: string): string {
  return chdb!.query(`SELECT formatQuery(${literal(statement)})`, 'TSVRaw').trim();
}

/**
 * The script as clickhouse-client --multiquery reads it: the renderer writes `-- ` comment lines and one statement
 * per line, ending in `;`. Each statement comes back with the comments before it, so the engine can show that
 * the comments are inert.
 */
function statementsOf(script: string): { statement: string; withComments: string }[] {
  const statements: { statement: string; withComments: string }[] = [];
  let comments: string[] = [];
  for (const line of script.split('\n')) {
    if (line.startsWith('-- ')) comments.push(line);
    else if (line.trim() !== '') {
      expect(line, 'one statement per line, ending in ;').toMatch(/;$/);
      const statement = line.slice(0, -1);
      statements.push({ statement, withComments: [...comments, statement].join('\n') });
      comments = [];
    }
  }
  return statements;
}

async function setup() {
  const clock = new FakeClock();
  const { broker } = await openTestBroker(tempDir(), clock);
  return { broker, clock };
}

async function approvedFor(broker: AccessBroker, identity: string): Promise<AccessRequest> {
  const created = await broker.create(identity, { service: 'acme-prod', reason: REASON, ticket: TICKET, duration: '2h' });
  return broker.approve(BOB, created.id);
}

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!chdb)('operator-config on a current ClickHouse (chdb)', () => {
  it('runs on an engine that has certificate users matched by subjectAltName (24.7 or later)', () => {
    const [major, minor] = chdb!.query('SELECT version()', 'TSVRaw').trim().split('.').map(Number) as [number, number];
    expect(major * 100 + minor).toBeGreaterThanOrEqual(2407);
  });

  it('parses every statement of the create step, for identities, reasons and tickets that could break out of a comment', async () => {
    // Given approved requests from odd identities, with a reason and ticket that try to end the comment
    const { broker } = await setup();
    for (const identity of IDENTITIES) {
      const request = await approvedFor(broker, identity);
      // When the operator step is rendered as SQL
      const config = await broker.operatorConfig(BOB, request.id, 'sql');
      const user = serverUserFor(request.id, identity);
      const statements = statementsOf(config.content);
      // Then it is exactly three statements on the request's own user, and the engine parses each one
      const formatted = statements.map(({ statement }) => formatQuery(statement));
      expect(formatted).toHaveLength(3);
      expect(formatted[0]).toMatch(new RegExp(`^CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH ssl_certificate SAN 'URI:urn:byoc:request:${request.id}' VALID UNTIL '[^']+' SETTINGS readonly = 1 CONST,`));
      expect(formatted[1]).toBe(`REVOKE ALL ON *.* FROM ${user}`);
      expect(formatted[2]).toBe(`GRANT SELECT ON system.* TO ${user}`);
      // And the comments before each statement change nothing the engine sees
      for (const [index, { withComments }] of statements.entries()) expect(formatQuery(withComments)).toBe(formatted[index]);
      // And no free text reached the SQL outside a comment
      expect(config.content.split('\n').filter((line) => !line.startsWith('-- ')).join('\n')).not.toContain('DROP USER default');
    }
  });

  it('pins and bounds the settings in the CREATE USER as the engine reads them', async () => {
    const { broker } = await setup();
    const request = await approvedFor(broker, IDENTITIES[0]!);
    const [create] = statementsOf((await broker.operatorConfig(BOB, request.id, 'sql')).content);
    const formatted = formatQuery(create!.statement);
    for (const setting of PINNED_SETTINGS) {
      const value = typeof setting.value === 'number' ? String(setting.value) : literal(setting.value);
      expect(formatted).toContain(`${setting.name} = ${value} CONST`);
    }
    for (const setting of CHANGEABLE_SETTINGS) {
      const value = setting.value === undefined ? '' : ` = ${setting.value}`;
      const bounds = `${setting.min === undefined ? '' : ` MIN ${setting.min}`}${setting.max === undefined ? '' : ` MAX ${setting.max}`}`;
      expect(formatted).toContain(`${setting.name}${value}${bounds} CHANGEABLE_IN_READONLY`);
    }
  });

  it('VALID UNTIL names the grant end whatever the server time zone', async () => {
    // Given an approved request whose grant ends at a known instant
    const { broker } = await setup();
    const request = await approvedFor(broker, IDENTITIES[0]!);
    const [create] = statementsOf((await broker.operatorConfig(BOB, request.id, 'sql')).content);
    const validUntil = /VALID UNTIL '([^']+)'/.exec(create!.statement)![1]!;
    // When the engine reads it the way CREATE USER does (parseDateTimeBestEffort in the server's time zone)
    for (const zone of ['UTC', 'America/Los_Angeles', 'Asia/Tokyo', 'Pacific/Kiritimati']) {
      const seconds = Number(chdb!.query(`SELECT toUnixTimestamp(parseDateTimeBestEffort(${literal(validUntil)}, ${literal(zone)}))`, 'TSVRaw').trim());
      // Then it is the grant's end to the second, in every zone
      expect(seconds, zone).toBe(Date.parse(request.notAfter!) / 1000);
    }
  });

  it('parses the removal for a revoked and for an expired request: one DROP USER and one KILL QUERY, of that request only', async () => {
    // Given two grants of the same engineer, one revoked, and a third that ran out
    const { broker, clock } = await setup();
    const revoked = await approvedFor(broker, IDENTITIES[2]!);
    const kept = await approvedFor(broker, IDENTITIES[2]!);
    await broker.revoke(CAROL, revoked.id, 'done');
    const expired = await approvedFor(broker, IDENTITIES[1]!);
    clock.advance(3 * HOUR);
    for (const [request, identity] of [[revoked, IDENTITIES[2]!], [expired, IDENTITIES[1]!]] as const) {
      // When the operator step is rendered for each
      const config: OperatorConfig = await broker.operatorConfig(BOB, request.id, 'sql');
      expect(config.action).toBe('drop');
      const statements = statementsOf(config.content);
      // Then the engine parses exactly one DROP USER and one KILL QUERY of what that user still runs, naming that
      // request's user and not the other grant's
      expect(statements.map(({ statement }) => formatQuery(statement))).toEqual([`DROP USER IF EXISTS ${serverUserFor(request.id, identity)}`, `KILL QUERY WHERE user = '${serverUserFor(request.id, identity)}' ASYNC`]);
      expect(formatQuery(statements[0]!.withComments)).toBe(`DROP USER IF EXISTS ${serverUserFor(request.id, identity)}`);
      expect(config.content).not.toContain(serverUserFor(kept.id, IDENTITIES[2]!));
    }
  });

  it('fails the check for a broken statement (negative control: the proof can fail)', async () => {
    const { broker } = await setup();
    const request = await approvedFor(broker, IDENTITIES[0]!);
    const [create, , grant] = statementsOf((await broker.operatorConfig(BOB, request.id, 'sql')).content);
    // Given the real statements with one mistake each: an unclosed literal, a misspelt keyword, a missing grantee
    const broken = [
      create!.statement.replace(`SAN 'URI:`, `SAN URI:`),
      create!.statement.replace('CHANGEABLE_IN_READONLY', 'CHANGEABLE_IN_READ_ONLY'),
      grant!.statement.replace(/ TO .*$/, ' TO'),
    ];
    // Then the engine refuses each with a syntax error
    for (const statement of broken) expect(() => formatQuery(statement), statement).toThrow(/Code: 62/);
  });

  it('loads the users.d file: the request user matched by SAN, SELECT on system.* only, pinned and bounded settings; the removal document deletes it', async () => {
    // Given a server folder whose users.xml has only the customer's default user, and the rendered users.d file
    const { broker, clock } = await setup();
    const request = await approvedFor(broker, IDENTITIES[1]!);
    const user = serverUserFor(request.id, IDENTITIES[1]!);
    const create = await broker.operatorConfig(BOB, request.id, 'xml');
    expect(create).toMatchObject({ action: 'create', file: `/etc/clickhouse-server/users.d/${user}.xml` });
    const server = mkdtempSync(path.join(os.tmpdir(), 'byoc-chdb-'));
    scratch.push(server);
    mkdirSync(path.join(server, 'users.d'));
    writeFileSync(
      path.join(server, 'users.xml'),
      '<clickhouse><profiles><default/></profiles><users><default><no_password/><networks><ip>::/0</ip></networks><profile>default</profile><access_management>1</access_management></default></users></clickhouse>\n',
    );
    writeFileSync(path.join(server, 'config.xml'), `<clickhouse><users_config>${path.join(server, 'users.xml')}</users_config></clickhouse>\n`);
    const usersD = path.join(server, 'users.d', path.basename(create.file!));

    // When the file is loaded as rendered, in a separate process (the engine reports on its own stderr)
    writeFileSync(usersD, create.content);
    const asRendered = loadInChild(server);
    // Then this engine refuses it only because clickhouse-local never enables settings_constraints_replace_previous:
    // it parsed the file down to the CHANGEABLE_IN_READONLY constraints, which a server needs that setting for
    expect(asRendered.status).not.toBe(0);
    expect(asRendered.stderr).toContain('changeable_in_readonly');
    expect(asRendered.stderr).toContain('settings_constraints_replace_previous');

    // When the same file is loaded without the changeable_in_readonly markers (the one thing this engine cannot take)
    writeFileSync(usersD, create.content.replaceAll('<changeable_in_readonly/>', ''));
    const session = new chdb!.Session(path.join(server, 'data'), { connectionArgs: [`--config-file=${path.join(server, 'config.xml')}`] });
    try {
      // Then the engine has the request's user, authenticated by the request's SAN only
      expect(session.query(`SELECT auth_type, auth_params FROM system.users WHERE name = ${literal(user)}`, 'TSVRaw').trim()).toBe(
        `['ssl_certificate']\t['{"subject_alt_names":["URI:urn:byoc:request:${request.id}"]}']`,
      );
      // And its only privilege is SELECT on the system database
      expect(session.query(`SHOW GRANTS FOR ${user}`, 'TSVRaw').trim()).toBe(`GRANT SELECT ON system.* TO ${user}`);
      // And its profile pins read-only and query logging, and bounds the limits
      const elements = session
        .query(`SELECT setting_name, value, min, max, writability FROM system.settings_profile_elements WHERE profile_name = ${literal(user)} ORDER BY index`, 'TSVRaw')
        .trim()
        .split('\n');
      const expected = [
        ...PINNED_SETTINGS.map((setting) => [setting.name, String(setting.value), '\\N', '\\N', 'CONST'].join('\t')),
        ...CHANGEABLE_SETTINGS.filter((setting) => setting.min !== undefined).map((setting) =>
          [setting.name, setting.value === undefined ? '\\N' : String(setting.value), String(setting.min), String(setting.max), '\\N'].join('\t'),
        ),
      ];
      expect(elements).toEqual(expected);
    } finally {
      session.cleanup();
    }

    // When the grant is revoked and the file is overwritten with the removal document
    await broker.revoke(CAROL, request.id);
    clock.advance(1000);
    const drop = await broker.operatorConfig(BOB, request.id, 'xml');
    expect(drop).toMatchObject({ action: 'drop', file: create.file });
    writeFileSync(usersD, drop.content);
    const after = new chdb!.Session(path.join(server, 'data'), { connectionArgs: [`--config-file=${path.join(server, 'config.xml')}`] });
    try {
      // Then the engine loads it and the request's user is gone
      expect(after.query('SELECT name FROM system.users ORDER BY name', 'TSVRaw').trim()).toBe('default');
    } finally {
      after.cleanup();
    }
  });
});

/** Opens a chdb session on the server folder in a child process, to read what the engine prints on refusal. */
function loadInChild(server: string) {
  const script = `
    const chdb = require('node:module').createRequire(${JSON.stringify(CHDB_PACKAGE_JSON)})('chdb');
    const session = new chdb.Session(${JSON.stringify(path.join(server, 'child'))}, { connectionArgs: [${JSON.stringify(`--config-file=${path.join(server, 'config.xml')}`)}] });
    session.cleanup();
  `;
  return spawnSync(process.execPath, ['-e', script], { cwd: server, encoding: 'utf8', timeout: 60_000 });
}
