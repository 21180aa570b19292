import { chmodSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSession, readStoredSession, removeSession, sameBroker, writeSession, type StoredSession } from '../../../src/auth/session.js';
import { tempDir } from '../../fakes/fs.js';

const stored: StoredSession = {
  version: 1,
  broker: 'https://broker.vendor.example',
  issuer: 'https://idp.vendor.example',
  clientId: 'byoc-cli',
  identity: 'alice@vendor.example',
  groups: ['oncall'],
  expiresAt: '2026-11-30T12:00:00.000Z',
  refreshable: true,
  bearer: 'access_token',
  token: 'eyJ.secret.token',
  refreshToken: 'refresh-secret',
  flow: 'authorization_code',
  obtainedAt: '2026-11-30T11:00:00.000Z',
};

describe('the OIDC session file', () => {
  it('is written 0600 in a 0700 folder under <state>/auth', async () => {
    // Given a state folder whose auth folder another umask left open
    const stateDir = tempDir();
    mkdirSync(path.join(stateDir, 'auth'), { mode: 0o777 });
    chmodSync(path.join(stateDir, 'auth'), 0o777);
    // When the session is written
    await writeSession(stateDir, stored);
    // Then only its owner can read it
    expect(statSync(path.join(stateDir, 'auth', 'session.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(stateDir, 'auth')).mode & 0o777).toBe(0o700);
    expect(await readStoredSession(stateDir)).toEqual(stored);
  });

  it('readSession gives the summary others may show: no token, no refresh token', async () => {
    const stateDir = tempDir();
    await writeSession(stateDir, stored);
    const summary = await readSession(stateDir);
    expect(summary).toEqual({
      broker: 'https://broker.vendor.example',
      issuer: 'https://idp.vendor.example',
      identity: 'alice@vendor.example',
      groups: ['oncall'],
      expiresAt: '2026-11-30T12:00:00.000Z',
      refreshable: true,
    });
    expect(JSON.stringify(summary)).not.toContain('secret');
  });

  it('reads no session from an empty folder, a broken file, or another version', async () => {
    expect(await readSession(tempDir())).toBeUndefined();
    const broken = tempDir({ 'auth/session.json': '{"version":1,' });
    expect(await readSession(broken)).toBeUndefined();
    const other = tempDir();
    mkdirSync(path.join(other, 'auth'));
    writeFileSync(path.join(other, 'auth', 'session.json'), JSON.stringify({ ...stored, version: 2 }));
    expect(await readSession(other)).toBeUndefined();
  });

  it('removeSession says whether there was one', async () => {
    const stateDir = tempDir();
    await writeSession(stateDir, stored);
    expect(await removeSession(stateDir)).toBe(true);
    expect(await readSession(stateDir)).toBeUndefined();
    expect(await removeSession(stateDir)).toBe(false);
  });

  it('compares broker URLs without their trailing slash', () => {
    expect(sameBroker('https://broker.vendor.example/', 'https://broker.vendor.example')).toBe(true);
    expect(sameBroker('https://broker.vendor.example', 'https://other.vendor.example')).toBe(false);
  });
});
