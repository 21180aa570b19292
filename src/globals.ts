/**
 * Flags every command accepts, and the settings they set. `--config` is the one flag without a config
 * key: it names the file itself (env: BYOC_CONFIG).
 */
export const GLOBAL_FLAGS = [
  { name: 'json', flags: '--json', setting: 'output.json', description: 'print one JSON document on stdout; errors as JSON on stderr' },
  { name: 'verbose', flags: '--verbose', setting: 'output.verbose', description: 'diagnostic detail on stderr' },
  { name: 'color', flags: '--no-color', setting: 'output.color', description: 'no colour, even on a TTY (also NO_COLOR)' },
] as const;

export const CONFIG_FLAG = '--config';
