import os from 'node:os';
import path from 'node:path';
import type { Configuration, FlagValue } from './config/configuration.js';
import { createProgress } from './ui/progress.js';
import type { SettingsCatalog } from './config/settings.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface OutputStream {
  write(chunk: string | Uint8Array): boolean;
  once?(event: 'drain', listener: () => void): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface InputStream extends AsyncIterable<string | Buffer> {
  isTTY?: boolean;
  /** The stream itself, for a line editor (the shell's readline): raw mode, keypresses, pause and resume. */
  stream?(): NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
}

interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: InputStream;
}

export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** How this byoc can run itself again (kubectl's exec plugin calls it by absolute path). */
interface SelfInvocation {
  node: string;
  script: string;
}

/** What stays the same for the whole process: the boundary to the real world. */
export interface ContextBase {
  io: Io;
  env: Env;
  cwd: string;
  clock: Clock;
  signal: AbortSignal;
  version: string;
  self: SelfInvocation;
  /** Factories for remote clients; each is called only when a command needs it. */
  clients: Partial<ClientFactories>;
}

/**
 * The clients commands can ask for, by name. Each capability adds its entry by declaration merging
 * (`declare module '../context.js' { interface Clients { broker: BrokerClient } }`), and fakes in tests
 * implement only the methods a test needs.
 * @public (extended by declaration merging, which a dead-code finder cannot see)
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- empty here; every client adds itself by declaration merging
export interface Clients {}

export type ClientFactories = { [K in keyof Clients]: (ctx: Context) => Promise<Clients[K]> };

export interface OutputMode {
  json: boolean;
  color: boolean;
  verbose: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
}

interface Log {
  warn(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
}

export interface Context extends ContextBase {
  output: OutputMode;
  log: Log;
  /** The effective configuration, loaded on first use. */
  config(): Promise<Configuration>;
  /** Where byoc keeps its state: keys, certificates, the embedded broker. */
  stateDir(): string;
  /** A client, created on first use (once per invocation). */
  client<K extends keyof Clients>(name: K): Promise<Clients[K]>;
  /**
   * Resolves as `work` does. When it takes over 300 ms and a person watches stderr (a terminal, not --json), a
   * spinner there says `label`; it is erased before the command's result is printed. Never on a pipe.
   */
  progress<T>(label: string, work: Promise<T>): Promise<T>;
  /** The same for a wait that ends elsewhere (a streamed result's first row): call the returned function when it ends. */
  beginProgress(label: string): () => void;
}

export interface InvocationGlobals {
  configFile?: string | undefined;
  /** where configFile came from: `--config` or `BYOC_CONFIG` */
  configOrigin?: string | undefined;
  /** Global flags given on the command line, keyed by setting. */
  flags: ReadonlyMap<string, FlagValue>;
  output: OutputMode;
  /** Every setting a file may set (default: the shared ones only). */
  settings?: SettingsCatalog | undefined;
  /** Already loaded (main loads it first: the output settings come from it). */
  configuration?: Configuration | undefined;
  /** Why it could not be loaded, for a command that reports that itself (the doctor). */
  configurationError?: Error;
}

let modules: Promise<[typeof import('./config/load.js'), typeof import('./config/configuration.js'), typeof import('./config/state-services.js')]> | undefined;

/** The configuration's modules, imported once: main starts this before commander parses, so they load meanwhile. */
export function configurationModules(): NonNullable<typeof modules> {
  modules ??= Promise.all([import('./config/load.js'), import('./config/configuration.js'), import('./config/state-services.js')]);
  return modules;
}

/** The effective configuration: the file (validated: exit 3 naming file, key and line), the variables, the flags. */
export async function loadConfiguration(base: Pick<ContextBase, 'cwd' | 'env'>, globals: Omit<InvocationGlobals, 'output' | 'configuration' | 'configurationError'>): Promise<Configuration> {
  const [{ loadConfigFile }, { Configuration }, { stateServices }] = await configurationModules();
  let { configFile, configOrigin } = globals;
  if (configFile === undefined) {
    // --config > BYOC_CONFIG, by the same resolver as every setting (the file cannot name itself).
    const { GLOBAL_OPTIONS } = await import('./options.js');
    const named = new Configuration({ path: undefined, data: {} }, base.env, globals.flags).resolve(GLOBAL_OPTIONS.config);
    configFile = named.value as string | undefined;
    configOrigin = named.origin;
  }
  const [file, registered] = await Promise.all([
    loadConfigFile({ cwd: base.cwd, env: base.env, explicitFile: configFile, explicitOrigin: configOrigin, settings: globals.settings }),
    stateServices(stateDirFor(base.env)),
  ]);
  return new Configuration(file, base.env, globals.flags, registered, globals.settings);
}

function stateDirFor(env: Env): string {
  if (env.BYOC_STATE_DIR) return path.resolve(env.BYOC_STATE_DIR);
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'byoc');
}

/** Colour only where a person reads it, and never against NO_COLOR or --no-color. FORCE_COLOR wins over TTY detection. */
export function decideColor(env: Env, isTTY: boolean, colorSetting: boolean): boolean {
  if (!colorSetting) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTTY;
}

export function createContext(base: ContextBase, globals: InvocationGlobals): Context {
  let configuration: Promise<Configuration> | undefined;
  const clients = new Map<keyof Clients, Promise<unknown>>();
  const progress = createProgress({
    stream: base.io.stderr,
    enabled: globals.output.stderrIsTTY && !globals.output.json,
    color: decideColor(base.env, globals.output.stderrIsTTY, globals.output.color),
  });
  // Warnings and debug lines go above a spinner that is showing, never through it.
  const write = (line: string) => progress.write(`${line}\n`);
  const context: Context = {
    ...base,
    output: globals.output,
    log: {
      warn: (message) => write(`warning: ${message}`),
      info: (message) => write(message),
      verbose: (message) => {
        if (context.output.verbose) write(`debug: ${message}`);
      },
    },
    config() {
      configuration ??= globals.configurationError
        ? Promise.reject(globals.configurationError)
        : globals.configuration
          ? Promise.resolve(globals.configuration)
          : loadConfiguration(base, globals);
      return configuration;
    },
    stateDir: () => stateDirFor(base.env),
    progress: (label, work) => progress.track(label, work),
    beginProgress: (label) => progress.begin(label),
    client<K extends keyof Clients>(name: K): Promise<Clients[K]> {
      let client = clients.get(name) as Promise<Clients[K]> | undefined;
      if (!client) {
        const factory = base.clients[name];
        if (!factory) return Promise.reject(new Error(`no ${String(name)} client factory is wired into the context`));
        client = factory(context);
        clients.set(name, client);
      }
      return client;
    },
  };
  return context;
}
