import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerStateService, stateServices, unregisterStateService } from '../../../src/config/state-services.js';
import { tempDir } from '../../fakes/fs.js';

describe('services registered in the state folder', () => {
  it('adds a registration next to the others, privately, and removes it again', async () => {
    // Given a state folder with another registration
    const stateDir = tempDir({ 'services.json': JSON.stringify({ other: { clickhouse: { url: 'https://other.example:8443' } } }) });
    // When the sandbox registers
    await registerStateService(stateDir, 'sandbox', { clickhouse: { url: 'https://ch.sandbox.byoc.internal:1234' }, resolve: { 'ch.sandbox.byoc.internal': '127.0.0.1' }, caFile: '/ca.crt' });
    // Then both are known, and the file is 0600
    expect(Object.keys(await stateServices(stateDir)).sort()).toEqual(['other', 'sandbox']);
    expect((await stateServices(stateDir)).sandbox?.resolve).toEqual({ 'ch.sandbox.byoc.internal': '127.0.0.1' });
    expect(statSync(path.join(stateDir, 'services.json')).mode & 0o777).toBe(0o600);
    // When it unregisters / Then the other stays
    expect(await unregisterStateService(stateDir, 'sandbox')).toBe(true);
    expect(JSON.parse(readFileSync(path.join(stateDir, 'services.json'), 'utf8'))).toEqual({ other: { clickhouse: { url: 'https://other.example:8443' } } });
  });

  it('removes the file with the last registration, and unregistering twice is harmless', async () => {
    // Given only the sandbox
    const stateDir = tempDir();
    await registerStateService(stateDir, 'sandbox', {});
    // When / Then
    expect(await unregisterStateService(stateDir, 'sandbox')).toBe(true);
    expect(existsSync(path.join(stateDir, 'services.json'))).toBe(false);
    expect(await unregisterStateService(stateDir, 'sandbox')).toBe(false);
    expect(await stateServices(stateDir)).toEqual({});
  });
});
