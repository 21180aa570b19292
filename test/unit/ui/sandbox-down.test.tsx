import { renderToString } from 'ink';
import { describe, expect, it } from 'vitest';
import { SandboxDownView } from '../../../src/ui/views/sandbox.js';

describe('the sandbox down view', () => {
  it('says what stopped and what was kept', () => {
    // Given a sandbox that was running, When it is shown on a terminal
    const text = renderToString(
      SandboxDownView({
        result: { service: 'sandbox', clickhouse: { pid: 41, wasRunning: true, stoppedWith: 'SIGTERM' }, nginx: { wasRunning: false }, prometheus: { pid: 42, wasRunning: true, stoppedWith: 'SIGTERM' }, nodeExporter: { wasRunning: false }, unregistered: true, purged: false, stateDir: '/state' },
        color: false,
      }),
      { columns: 100 },
    );
    // Then each process and the data are accounted for
    expect(text).toContain('sandbox down');
    expect(text).toMatch(/clickhouse\s+stopped \(pid 41, SIGTERM\)/);
    expect(text).toMatch(/nginx\s+was not running/);
    expect(text).toMatch(/prometheus\s+stopped \(pid 42, SIGTERM\)/);
    expect(text).toMatch(/exporter\s+was not running/);
    expect(text).toContain('kept in /state/sandbox');
  });
});
