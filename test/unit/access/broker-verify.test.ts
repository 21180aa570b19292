import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerDir } from '../../../src/access/broker.js';
import { chainedText, recordHash } from '../../../src/access/chain.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { spawnByoc, type SpawnedByoc } from '../../fakes/spawn-byoc.js';
import { ALICE, BOB, openRealBroker } from './served-broker.js';

const children: SpawnedByoc[] = [];
afterEach(async () => {
  for (const spawned of children.splice(0)) {
    spawned.child.kill('SIGKILL');
    await spawned.exited;
  }
});

/** A broker folder with four events (two requests, one approved and one revoked), written by the real broker. */
async function brokerWithEvents(): Promise<{ stateDir: string; file: string; lines: () => string[] }> {
  const stateDir = tempDir();
  const { broker } = await openRealBroker(stateDir);
  const first = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration: '1h' });
  await broker.approve(BOB, first.id);
  const second = await broker.create(ALICE, { service: 'acme-prod', reason: 'disk full', duration: '1h' });
  await broker.revoke(ALICE, second.id);
  const file = path.join(brokerDir(stateDir), 'events.jsonl');
  return { stateDir, file, lines: () => readFileSync(file, 'utf8').trim().split('\n') };
}

const verify = (stateDir: string, json = false) => runCli(['broker', 'verify', ...(json ? ['--json'] : [])], { env: { BYOC_STATE_DIR: stateDir }, cwd: tempDir() });
const rewrite = (file: string, lines: string[]) => writeFileSync(file, `${lines.join('\n')}\n`);

describe('byoc broker verify', () => {
  it('Given an untouched log, When verified, Then exit 0 with the count, the legacy count and the head hash (text and --json)', async () => {
    const { stateDir, file, lines } = await brokerWithEvents();
    const head = recordHash(lines().at(-1)!);
    // When verified as text
    const text = await verify(stateDir);
    // Then it says intact, with the count and head, and suggests keeping the head elsewhere
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toBe(`${file}: chain intact, 4 events (0 written before the chain)\nhead ${head}\n`);
    expect(text.stderr).toContain('Keep the head hash somewhere else');
    // And as JSON
    const json = await verify(stateDir, true);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ store: file, intact: true, events: 4, unchained: 0, head });
  });

  it('Given a reason changed by hand, When verified, Then exit 4 chain_broken naming the line after it, with both hashes and what to do', async () => {
    // Given line 3 (the second request's creation) edited with plain fs
    const { stateDir, file, lines } = await brokerWithEvents();
    const before = lines();
    expect(before[2]).toContain('"reason":"disk full"');
    rewrite(file, before.map((line, i) => (i === 2 ? line.replace('disk full', 'routine check') : line)));
    // When verified
    const result = await verify(stateDir);
    // Then line 4 is named: it links to the original line 3, which the file no longer holds
    expect(result.exitCode).toBe(4);
    const expected = recordHash(lines()[2]!);
    const found = recordHash(before[2]!);
    expect(result.stdout).toBe(`${file}: chain broken at line 4 (3 events before it intact)\nexpected prev ${expected}\nfound prev    ${found}\n`);
    expect(result.stderr).toContain('error: the event log');
    expect(result.stderr).toContain('was changed: line 4');
    expect(result.stderr).toContain(`restore ${file} from backup`);
    expect(result.stderr).toContain(`diff <backup>/events.jsonl ${file}`);
    // And --json carries the same, still exit 4
    const json = await verify(stateDir, true);
    expect(json.exitCode).toBe(4);
    expect(json.stderr).toContain('chain_broken');
    expect(JSON.parse(json.stdout)).toMatchObject({ intact: false, brokenAt: 'line 4', expected, found, events: 4 });
  });

  it('Given a terminal, When verified, Then the verdict comes first and the hashes whole (intact and broken)', async () => {
    const { stateDir, file, lines } = await brokerWithEvents();
    const head = recordHash(lines().at(-1)!);
    const intact = await runCli(['broker', 'verify'], { env: { BYOC_STATE_DIR: stateDir }, cwd: tempDir(), stdoutTTY: true });
    expect(intact.stdout).toMatch(/^✓ chain intact /);
    expect(intact.stdout).toContain(`head ${head}`);
    expect(intact.stdout).toContain('4 events');
    const [a, b, c, d] = lines();
    rewrite(file, [a!, c!, b!, d!]);
    const broken = await runCli(['broker', 'verify'], { env: { BYOC_STATE_DIR: stateDir }, cwd: tempDir(), stdoutTTY: true });
    expect(broken.exitCode).toBe(4);
    expect(broken.stdout).toMatch(/^✗ chain broken at line 2 /);
    expect(broken.stdout).toContain(`expected prev ${recordHash(a!)}`);
    expect(broken.stdout).toContain(`found prev    ${recordHash(b!)}`);
  });

  it('Given a deleted line, When the byoc binary verifies it, Then exit 4 naming the line that took its place', async () => {
    // Given the approval (line 2) removed with plain fs
    const { stateDir, file, lines } = await brokerWithEvents();
    const before = lines();
    rewrite(file, before.filter((_, i) => i !== 1));
    // When the built CLI verifies, as a person's shell runs it
    const result = await spawnByoc(['broker', 'verify', '--json'], { cwd: tempDir(), env: { BYOC_STATE_DIR: stateDir } }).exited;
    // Then line 2 (formerly line 3) is named: it links to the deleted line, not to line 1
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ brokenAt: 'line 2', expected: recordHash(before[0]!), found: recordHash(before[1]!) });
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'chain_broken' });
  });

  it('Given two lines swapped, When verified, Then exit 4 naming the first of them', async () => {
    const { stateDir, file, lines } = await brokerWithEvents();
    const [a, b, c, d] = lines();
    rewrite(file, [a!, c!, b!, d!]);
    const result = await verify(stateDir, true);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ brokenAt: 'line 2' });
  });

  it('Given a forged line appended with a wrong prev, When verified, Then exit 4 naming it', async () => {
    const { stateDir, file, lines } = await brokerWithEvents();
    const id = (JSON.parse(lines()[0]!) as { id: string }).id;
    appendFileSync(file, `${chainedText({ type: 'request.reviewed', at: new Date().toISOString(), id, reviewer: BOB, decision: 'approve' }, recordHash(lines()[1]!))}\n`);
    const result = await verify(stateDir, true);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ brokenAt: 'line 5', expected: recordHash(lines()[3]!), found: recordHash(lines()[1]!) });
  });

  it('Given a torn last line (an interrupted write), When verified, Then exit 0 with the tear reported as such, not as tampering', async () => {
    const { stateDir, file } = await brokerWithEvents();
    appendFileSync(file, '{"type":"request.revoked","at":"2026-');
    const result = await verify(stateDir, true);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ intact: true, events: 4, torn: { where: 'line 5', bytes: 37 } });
    expect(result.stderr).toContain('line 5 of');
    expect(result.stderr).toContain('is torn');
  });

  it('Given a log written before the chain, When verified, Then its lines count as the legacy prefix', async () => {
    const stateDir = tempDir();
    const legacy = { type: 'request.revoked', at: '2025-01-01T00:00:00.000Z', id: 'r-old', by: BOB } as const;
    mkdirSync(brokerDir(stateDir));
    writeFileSync(path.join(brokerDir(stateDir), 'events.jsonl'), `${JSON.stringify(legacy)}\n`, { flag: 'w' });
    const result = await verify(stateDir, true);
    expect(JSON.parse(result.stdout)).toMatchObject({ intact: true, events: 1, unchained: 1 });
  });

  it('Given `byoc broker serve` holding the store (another process), When verified, Then it reads without the writer lock and answers', async () => {
    // Given a real broker process serving the folder (it holds the lock until it stops)
    const { stateDir } = await brokerWithEvents();
    const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\n` });
    const serve = spawnByoc(['broker', 'serve', '--listen', '127.0.0.1:0'], { cwd, env: { BYOC_STATE_DIR: stateDir }, timeoutMs: 60_000 });
    children.push(serve);
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      serve.child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/listening on http/.test(stderr)) resolve();
      });
      void serve.exited.then(({ exitCode }) => reject(new Error(`broker serve exited ${exitCode}: ${stderr}`)));
    });
    // (an embedded writer is refused meanwhile: the store is held)
    const writer = await runCli(['broker', 'token', 'create', 'carol@vendor.example'], { env: { BYOC_STATE_DIR: stateDir }, cwd });
    expect(writer.exitCode).toBe(3);
    expect(writer.stderr).toContain('is held by `byoc broker serve`');
    // When verify runs as another process
    const result = await spawnByoc(['broker', 'verify', '--json'], { cwd, env: { BYOC_STATE_DIR: stateDir } }).exited;
    // Then it answers at once from the log
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ intact: true, events: 4 });
  });
});
