/**
 * `byoc connect k8s` as a flow: which kubeconfig to write, writing the service's context into it, and proving the
 * context works the way kubectl will use it. The entry itself is planned in kubeconfig-entry.ts; the file format,
 * merge and atomic write are kubeconfig.ts.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../context.js';
import { ByocError, reworded } from '../errors.js';
import { currentContextOf } from './kubeconfig-entry.js';
import { kubeconfigPathFor, mergeKubeconfig, readKubeconfig, writeKubeconfigAtomically, type ExecEnvVar, type KubeconfigEntry } from './kubeconfig.js';

/**
 * The kubeconfig to write, absolute: `--kubeconfig` (or its setting), else the file kubectl would modify. A leading
 * `~` is expanded here: a value from the configuration file, BYOC_KUBECONFIG or `--kubeconfig=~/...` never went
 * through a shell's tilde expansion.
 */
export function kubeconfigFileFor(ctx: Pick<Context, 'env' | 'cwd'>, flag: string | undefined): string {
  const home = ctx.env.HOME || os.homedir();
  return path.resolve(
    ctx.cwd,
    kubeconfigPathFor({
      flag: flag ? expandHome(flag, home) : undefined,
      env: ctx.env,
      home,
      exists: (candidate) => existsSync(path.resolve(ctx.cwd, candidate)),
    }),
  );
}

function expandHome(file: string, home: string): string {
  return file === '~' || file.startsWith('~/') ? `${home}${file.slice(1)}` : file;
}

export interface WrittenContext {
  file: string;
  changed: boolean;
  /** the previous file, kept next to it when this run changed it */
  backup: string | null;
  /** current-context was pointed at this context by this run */
  switched: boolean;
  /** current-context is this context (now) */
  current: boolean;
}

/**
 * Merges the entry into the file (other entries untouched) and writes it atomically with a backup, only when
 * something changed. A kubeconfig created from nothing gets this context as current: there is nothing else kubectl
 * could use.
 */
export async function writeKubeconfigContext(file: string, entry: KubeconfigEntry, options: { switchContext: boolean; now: () => Date }): Promise<WrittenContext> {
  const { parse } = await import('yaml');
  const existing = await readKubeconfig(file);
  const before = currentContextOf(existing, parse);
  const merged = mergeKubeconfig(existing, entry, { switchContext: options.switchContext || existing === undefined });
  let backup: string | null = null;
  if (merged.changed) backup = (await writeKubeconfigAtomically(file, merged.text, { now: options.now })).backupPath ?? null;
  const after = merged.changed ? currentContextOf(merged.text, parse) : before;
  return { file, changed: merged.changed, backup, switched: after === entry.contextName && before !== entry.contextName, current: after === entry.contextName };
}

export interface Verification {
  server: { url: string; version: string };
  /** who the API server says you are (SelfSubjectReview); null when the cluster forbids or lacks it */
  user: string | null;
  /** the CN of your certificate */
  certificateSubject: string;
  certificate: { notAfter: string; remainingMs: number };
}

/**
 * Proves the context works as kubectl will use it: a certificate for the service (the plugin's path), the API
 * server's version over byoc's network layer, and who the server says we are. A refusal or an unreachable server
 * is not thrown: the context is written either way, so the error comes back reworded to say so (the command exits
 * with its code). An interruption, or anything that is not byoc's error, is thrown.
 */
export async function verifyKubeconfigContext(
  ctx: Context,
  service: string,
  written: Pick<WrittenContext, 'file' | 'changed'> & { context: string },
): Promise<{ verification: Verification; error: null } | { verification: null; error: ByocError }> {
  try {
    const { openKubernetes } = await import('./session.js');
    const access = await openKubernetes(ctx, service);
    const version = await access.session.version();
    const user = await access.session.whoAmI();
    return {
      verification: {
        server: { url: access.endpoint.server, version: version.gitVersion },
        user: user ?? null,
        certificateSubject: access.certificate.meta.subject,
        certificate: { notAfter: access.certificate.meta.notAfter, remainingMs: access.certificate.remainingMs },
      },
      error: null,
    };
  } catch (error) {
    if (!(error instanceof ByocError) || error.kind === 'interrupted') throw error;
    const what = written.changed ? `wrote context ${written.context} to ${written.file}` : `context ${written.context} in ${written.file} is up to date`;
    return { verification: null, error: reworded(error, `${what}, but verifying it failed: ${error.message}`) };
  }
}

/**
 * kubectl runs the plugin from its own folder and environment: point it at the same state folder and
 * configuration file, and keep an identity that came from the environment (embedded broker). A served
 * broker's BYOC_TOKEN is a secret and never goes into the file: kubectl's environment must carry it.
 */
export async function pluginEnv(ctx: Context): Promise<ExecEnvVar[]> {
  const configuration = await ctx.config();
  const env: ExecEnvVar[] = [{ name: 'BYOC_STATE_DIR', value: ctx.stateDir() }];
  if (configuration.file.path) env.push({ name: 'BYOC_CONFIG', value: configuration.file.path });
  const user = configuration.resolve('user');
  if (user.source === 'env' && !configuration.get<string>('broker.url')) env.push({ name: 'BYOC_USER', value: String(user.value) });
  return env;
}
