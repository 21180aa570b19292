/**
 * The explicit manifest of every command. A file's path under commands/ is its command
 * (`config/show.ts` is `byoc config show`); test/unit/manifest.test.ts checks this list against the files.
 * Command modules stay light: heavy libraries are imported inside `run` and `view`.
 */
import type { AnyCommand, OptionSpec } from '../src/command.js';
import type { CompletionNode } from '../src/completion.js';
import { CONFIG_FLAG, GLOBAL_FLAGS } from '../src/globals.js';
import accessApprove from './access/approve.js';
import accessDeny from './access/deny.js';
import accessList from './access/list.js';
import accessOperatorConfig from './access/operator-config.js';
import accessRequest from './access/request.js';
import accessRevoke from './access/revoke.js';
import accessShow from './access/show.js';
import accessWait from './access/wait.js';
import brokerServe from './broker/serve.js';
import brokerTokenCreate from './broker/token/create.js';
import certGet from './cert/get.js';
import certList from './cert/list.js';
import certRm from './cert/rm.js';
import certShow from './cert/show.js';
import completion from './completion.js';
import configShow from './config/show.js';
import configValidate from './config/validate.js';
import helpExitCodes from './help/exit-codes.js';
import sandboxDown from './sandbox/down.js';
import sandboxStatus from './sandbox/status.js';
import sandboxUp from './sandbox/up.js';

export interface ManifestEntry {
  /** path under commands/ without the extension */
  file: string;
  command: AnyCommand;
}

export const groups: Record<string, string> = {
  access: 'Request, review and revoke time-bound access',
  broker: 'Run the access broker for a team',
  'broker token': 'Manage bearer tokens of the served broker',
  cert: 'Short-lived client certificates',
  config: 'Show and check the configuration',
  help: 'Help topics',
  sandbox: 'A local customer deployment on loopback (ClickHouse behind mutual-TLS nginx) for the demo and the tests',
};

export const manifest: readonly ManifestEntry[] = [
  { file: 'access/request', command: accessRequest },
  { file: 'access/list', command: accessList },
  { file: 'access/show', command: accessShow },
  { file: 'access/approve', command: accessApprove },
  { file: 'access/deny', command: accessDeny },
  { file: 'access/revoke', command: accessRevoke },
  { file: 'access/wait', command: accessWait },
  { file: 'access/operator-config', command: accessOperatorConfig },
  { file: 'cert/get', command: certGet },
  { file: 'cert/show', command: certShow },
  { file: 'cert/list', command: certList },
  { file: 'cert/rm', command: certRm },
  { file: 'broker/serve', command: brokerServe },
  { file: 'broker/token/create', command: brokerTokenCreate },
  { file: 'completion', command: completion },
  { file: 'config/show', command: configShow },
  { file: 'config/validate', command: configValidate },
  { file: 'help/exit-codes', command: helpExitCodes },
  { file: 'sandbox/up', command: sandboxUp },
  { file: 'sandbox/status', command: sandboxStatus },
  { file: 'sandbox/down', command: sandboxDown },
];

/** Every node of the command tree with its subcommands and flags, for shell completion. */
export function completionTree(): CompletionNode[] {
  const globalFlags = [...GLOBAL_FLAGS.map((flag) => flag.flags), CONFIG_FLAG, '--help'];
  const nodes = new Map<string, CompletionNode>();
  const node = (path: string, description: string) => {
    let found = nodes.get(path);
    if (!found) {
      found = { path, description, subcommands: [], flags: [...globalFlags] };
      nodes.set(path, found);
    }
    return found;
  };
  node('', 'byoc').flags.push('--version');
  for (const entry of manifest) {
    if (entry.command.hidden) continue;
    const words = entry.file.split('/');
    words.forEach((word, index) => {
      const parent = node(words.slice(0, index).join(' '), groups[words.slice(0, index).join(' ')] ?? '');
      if (!parent.subcommands.includes(word)) parent.subcommands.push(word);
      node(words.slice(0, index + 1).join(' '), index === words.length - 1 ? entry.command.description : (groups[words.slice(0, index + 1).join(' ')] ?? ''));
    });
    const leaf = node(words.join(' '), entry.command.description);
    for (const spec of Object.values((entry.command.options ?? {}) as Record<string, OptionSpec>)) {
      const long = spec.flags.split(/[ ,]/).find((part) => part.startsWith('--'))!;
      if (long.startsWith('--[no-]')) leaf.flags.push(long.replace('[no-]', ''), long.replace('[no-]', 'no-'));
      else leaf.flags.push(long);
    }
  }
  return [...nodes.values()];
}
