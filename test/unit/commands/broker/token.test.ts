import { describe, expect, it } from 'vitest';
import { runCli } from '../../../fakes/context.js';
import { tempDir } from '../../../fakes/fs.js';

describe('byoc broker token create', () => {
  it('--json names the person `identity`, like every other document, with `user` as its 0.1 alias', async () => {
    // Given a broker state folder, When a token is created as JSON
    const result = await runCli(['broker', 'token', 'create', 'alice@vendor.example', '--json'], { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir() } });
    // Then the document carries the identity under its new name and its old one, and the token
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document).toEqual({ identity: 'alice@vendor.example', user: 'alice@vendor.example', token: expect.stringMatching(/^byoc_[A-Za-z0-9_-]{43}$/) });
  });
});
