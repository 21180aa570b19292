import { chmodSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { BYOC_BIN } from './helpers.js';

const NOBODY = 65_534;
const isRoot = process.getuid?.() === 0;
const unprivilegedFrom = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  } catch {
    return 1024;
  }
})();

/** A port below the unprivileged range that nothing listens on (checked by binding it as this user, if root). */
async function freeLowPort(): Promise<number | undefined> {
  for (const port of [1023, 1022, 1021, 999, 987]) {
    if (port >= unprivilegedFrom) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EACCES'));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return undefined;
}

describe('bin/byoc.js broker serve: permission to bind', () => {
  it.skipIf(os.platform() !== 'linux' || unprivilegedFrom === 0)(
    'a port the user may not bind exits 5 with a hint naming the port and one it may use',
    async () => {
      // Given an unprivileged user (nobody, when the tests run as root) and a free port below 1024
      const port = await freeLowPort();
      expect(port).toBeDefined();
      const stateDir = tempDir();
      chmodSync(stateDir, 0o777);
      // When that user asks the broker to listen there
      const result = await execa(process.execPath, [BYOC_BIN, 'broker', 'serve', '--listen', `127.0.0.1:${port}`, '--json'], {
        reject: false,
        extendEnv: false,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home', BYOC_STATE_DIR: stateDir },
        cwd: '/',
        timeout: 30_000,
        ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      });
      // Then the system's refusal is reported as such (exit 5), with what to do, and the process ends
      expect(result.exitCode).toBe(5);
      const { error } = JSON.parse(String(result.stderr));
      expect(error).toMatchObject({ code: 'listen_not_permitted', message: `cannot listen on 127.0.0.1:${port}: permission denied` });
      expect(error.hint).toContain('CAP_NET_BIND_SERVICE');
      expect(error.hint).toContain('--listen 127.0.0.1:8443');
    },
  );
});
