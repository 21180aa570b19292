import type { Configuration } from '../config/configuration.js';
import { readConfiguredFile } from '../config/files.js';
import { NOTIFY_EVENT_NAMES, type NotifyTargetConfig } from '../config/schema.js';
import type { Env } from '../context.js';
import { ConfigError } from '../errors.js';
import type { NotifyEvent } from './message.js';

export interface NotifyTarget {
  name: string;
  kind: 'webhook' | 'slack';
  url: URL;
  /** webhook: the HMAC-SHA256 key */
  secret?: string;
  events: ReadonlySet<NotifyEvent>;
}

/** The checked `notify:` section: targets with their secrets read, and which targets each service's requests go to. */
export interface NotifyPlan {
  targets: ReadonlyMap<string, NotifyTarget>;
  defaults: readonly string[];
  services: ReadonlyMap<string, readonly string[]>;
  reviewUrl?: string;
}

/** A shorter key is more likely a placeholder than a secret; `openssl rand -hex 32` gives 64 characters. */
const MIN_SECRET_LENGTH = 16;

/**
 * The notifications the configuration asks for, or undefined when it names no target. The file's schema has
 * checked each value's type (exit 3 naming the file and key); what needs several keys at once is checked here:
 * a URL and a secret per target, the variables and files they name, routes naming targets that exist.
 */
export async function notifyPlan(configuration: Configuration, env: Env): Promise<NotifyPlan | undefined> {
  const section = configuration.data.notify ?? {};
  const configured = Object.entries(section.targets ?? {});
  const routed = Object.entries(configuration.data.services ?? {}).filter(([, service]) => service.notify !== undefined);
  if (configured.length === 0) {
    const route = section.default?.length ? 'notify.default' : routed.find(([, service]) => service.notify?.length)?.[0];
    if (route) {
      const key = route === 'notify.default' ? route : `services.${route}.notify`;
      throw new ConfigError('notify_target_unknown', `${key} names notification targets, but notify.targets defines none`, {
        hint: 'Define them under notify.targets.<name> (kind: webhook or slack), or remove the list.',
      });
    }
    return undefined;
  }
  const targets = new Map<string, NotifyTarget>();
  for (const [name, target] of configured) targets.set(name, await resolveTarget(configuration, env, name, target));
  const known = (key: string, names: readonly string[]) => {
    for (const name of names) {
      if (!targets.has(name)) {
        throw new ConfigError('notify_target_unknown', `${key} names "${name}", which is not in notify.targets`, { hint: `Targets: ${[...targets.keys()].join(', ')}.` });
      }
    }
    return names;
  };
  const services = new Map(routed.map(([service, config]) => [service, known(`services.${service}.notify`, config.notify!)]));
  return {
    targets,
    defaults: known('notify.default', section.default ?? []),
    services,
    ...(section.reviewUrl ? { reviewUrl: section.reviewUrl } : {}),
  };
}

async function resolveTarget(configuration: Configuration, env: Env, name: string, target: NotifyTargetConfig): Promise<NotifyTarget> {
  const key = `notify.targets.${name}`;
  if (!target.kind) throw new ConfigError('notify_kind_missing', `${key}.kind is required`, { hint: `Set ${key}.kind: webhook (a signed JSON POST) or slack (an incoming webhook).` });
  const sources = (['url', 'urlEnv', 'urlFile'] as const).filter((field) => target[field] !== undefined);
  if (target.kind === 'slack' && target.url !== undefined) {
    // Whoever has a Slack incoming-webhook URL can post to the channel: it is a secret, and a config file is shared.
    throw new ConfigError('notify_secret_inline', `${key}.url: a Slack incoming-webhook URL is a secret and does not belong in the configuration file`, {
      hint: `Put it in a variable (${key}.urlEnv: SLACK_ONCALL_WEBHOOK) or a file readable only by the broker (${key}.urlFile).`,
    });
  }
  if (sources.length !== 1) {
    throw new ConfigError('notify_url_missing', sources.length === 0 ? `${key} has no URL` : `${key} sets ${sources.join(' and ')}: give one`, {
      hint: target.kind === 'slack' ? `Set ${key}.urlEnv (a variable holding the incoming-webhook URL) or ${key}.urlFile.` : `Set ${key}.url (or urlEnv, or urlFile).`,
    });
  }
  const urlText = await secretValue(configuration, env, key, target, sources[0]!);
  let url: URL;
  try {
    url = new URL(urlText);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    // the value itself may be a secret: named by where it came from, never printed
    throw new ConfigError('notify_url_invalid', `${key}.${sources[0]}: expected an http:// or https:// URL`, { hint: `Check what ${key}.${sources[0]} gives.` });
  }
  const events = new Set<NotifyEvent>((target.events as NotifyEvent[] | undefined) ?? NOTIFY_EVENT_NAMES);
  if (target.kind === 'slack') {
    if (target.secretEnv !== undefined || target.secretFile !== undefined) {
      throw new ConfigError('notify_secret_unused', `${key}: a slack target takes no secret (Slack checks no signature)`, { hint: `Remove ${key}.secretEnv / secretFile, or use kind: webhook.` });
    }
    return { name, kind: 'slack', url, events };
  }
  const secretSources = (['secretEnv', 'secretFile'] as const).filter((field) => target[field] !== undefined);
  if (secretSources.length !== 1) {
    throw new ConfigError('notify_secret_missing', secretSources.length === 0 ? `${key} has no signing secret` : `${key} sets secretEnv and secretFile: give one`, {
      hint: `Set ${key}.secretEnv (a variable holding the key) or ${key}.secretFile (a file readable only by the broker); openssl rand -hex 32 makes one.`,
    });
  }
  const secret = await secretValue(configuration, env, key, target, secretSources[0]!);
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError('notify_secret_short', `${key}.${secretSources[0]}: the signing secret has ${secret.length} characters; at least ${MIN_SECRET_LENGTH} are needed`, {
      hint: 'Make one with: openssl rand -hex 32',
    });
  }
  return { name, kind: 'webhook', url, secret, events };
}

async function secretValue(configuration: Configuration, env: Env, key: string, target: NotifyTargetConfig, field: 'url' | 'urlEnv' | 'urlFile' | 'secretEnv' | 'secretFile'): Promise<string> {
  const named = target[field]!;
  if (field === 'url') return named;
  if (field === 'urlEnv' || field === 'secretEnv') {
    const value = env[named]?.trim();
    if (!value) throw new ConfigError('notify_variable_unset', `${key}.${field}: the variable ${named} is not set`, { hint: `Set ${named} in the broker's environment.` });
    return value;
  }
  const value = (await readConfiguredFile(configuration, `${key}.${field}`, named, 'notify_file_unreadable')).trim();
  if (!value) throw new ConfigError('notify_file_empty', `${key}.${field}: ${configuration.pathFromFile(named)} is empty`, { hint: `Write the value into ${named}.` });
  return value;
}

/** The targets a notice about a request for `service` goes to. */
export function targetsFor(plan: NotifyPlan, service: string, event: NotifyEvent): NotifyTarget[] {
  const names = plan.services.get(service) ?? plan.defaults;
  return names.map((name) => plan.targets.get(name)!).filter((target) => target.events.has(event));
}
