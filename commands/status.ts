import { defineCommand } from '../src/command.js';
import type { Context } from '../src/context.js';
import { ByocError, NetworkError, NotAllowedError, RemoteError } from '../src/errors.js';
import { formatCoarse } from '../src/util/duration.js';
import type { SessionSummary } from '../src/auth/session.js';

/** How the identity was established. */
interface SignIn {
  /** token: BYOC_TOKEN, checked by the served broker; oidc: a `byoc login` session; user: the embedded broker's `user` */
  via: 'token' | 'oidc' | 'user';
  /** where it came from: BYOC_TOKEN, the session file, BYOC_USER or the configuration file */
  source: string;
  /** an OIDC session: the identity provider, and the end of the token sent to the broker */
  issuer?: string;
  expiresAt?: string;
  remainingMs?: number;
  refreshable?: boolean;
}

interface BrokerState {
  mode: 'served' | 'embedded';
  /** the URL, or the embedded broker's folder */
  location: string;
  reachable: boolean;
  /** the time the identity question took (ms) */
  latencyMs?: number;
  /** why it could not be asked (kind: network for the way there, remote for the broker itself) */
  error?: { code: string; kind: 'network' | 'remote'; message: string };
}

interface Grant {
  id: string;
  service: string;
  scopes: string[];
  notAfter: string;
  remainingMs: number;
}

interface HeldCertificate {
  service: string;
  requestId: string;
  serial: string;
  notAfter: string;
  remainingMs: number;
  expired: boolean;
  /** what the broker says now about its request (`unknown`: it knows no such request) */
  requestStatus: string;
  /** usable: not expired, and its request still approved */
  honoured: boolean;
}

interface Status {
  identity: string | undefined;
  signedIn: SignIn;
  broker: BrokerState;
  grants: Grant[];
  certificates: HeldCertificate[];
}

/** The OIDC session of this state folder (`byoc login`) when it is for this broker; another broker's is no sign-in here. */
async function sessionFor(ctx: Pick<Context, 'stateDir'>, url: string): Promise<SessionSummary | undefined> {
  const { readSession, sameBroker } = await import('../src/auth/session.js');
  const session = await readSession(ctx.stateDir());
  return session && sameBroker(session.broker, url) ? session : undefined;
}

export default defineCommand({
  examples: ['byoc status', 'byoc status --json', 'byoc whoami'],
  async run(_input, ctx): Promise<Status> {
    const configuration = await ctx.config();
    const url = configuration.get<string>('broker.url');
    const now = ctx.clock.now();
    let signedIn: SignIn;
    let session: SessionSummary | undefined;
    if (url) {
      session = ctx.env.BYOC_TOKEN ? undefined : await sessionFor(ctx, url);
      if (ctx.env.BYOC_TOKEN) {
        signedIn = { via: 'token', source: 'BYOC_TOKEN' };
      } else if (session) {
        const remainingMs = Date.parse(session.expiresAt) - now.getTime();
        if (remainingMs <= 0 && !session.refreshable) {
          throw new NotAllowedError('session_expired', `your session with ${session.issuer} for ${session.identity} expired at ${session.expiresAt}`, {
            hint: 'Sign in again: run byoc login',
          });
        }
        signedIn = { via: 'oidc', source: 'byoc login', issuer: session.issuer, expiresAt: session.expiresAt, remainingMs: Math.max(0, remainingMs), refreshable: session.refreshable };
      } else {
        throw new NotAllowedError('not_signed_in', `you are not signed in to the broker at ${url}`, {
          hint: 'Sign in: run byoc login, or set BYOC_TOKEN to a token from the broker operator (byoc broker token create YOU).',
        });
      }
    } else {
      const user = configuration.resolve('user');
      signedIn = { via: 'user', source: user.source === 'env' ? 'BYOC_USER' : user.origin ? `user in ${user.origin}` : 'user' };
    }

    const client = await ctx.client('broker');
    const started = ctx.clock.now().getTime();
    let identity: string | undefined;
    let broker: BrokerState;
    try {
      identity = await client.whoami();
      broker = { mode: url ? 'served' : 'embedded', location: url ?? embeddedFolder(client.location), reachable: true, latencyMs: ctx.clock.now().getTime() - started };
    } catch (error) {
      // A token the broker does not accept is "not signed in" (exit 4), said by the broker itself.
      if (!(error instanceof ByocError) || error.kind === 'not-allowed' || error.kind === 'usage' || error.kind === 'config') throw error;
      const kind = error.kind === 'network' ? 'network' : 'remote';
      broker = { mode: url ? 'served' : 'embedded', location: url ?? embeddedFolder(client.location), reachable: false, error: { code: error.code, kind, message: error.message } };
      return { identity: session?.identity, signedIn, broker, grants: [], certificates: [] };
    }

    const [requests, certificates] = await Promise.all([client.list({ mine: true, status: 'approved' }), heldCertificates(ctx, identity)]);
    const grants = requests
      .filter((request) => request.notAfter !== undefined && Date.parse(request.notAfter) > now.getTime())
      .map((request) => ({ id: request.id, service: request.service, scopes: [...request.scopes], notAfter: request.notAfter!, remainingMs: Date.parse(request.notAfter!) - now.getTime() }));
    return { identity, signedIn, broker, grants, certificates };
  },
  text: (status) => statusText(status),
  async view(status, render) {
    const { StatusView } = await import('../src/ui/views/status.js');
    return StatusView({ status, how: signInText(status.signedIn), color: render.color });
  },
  outcome(status) {
    // The view is printed first; a broker that could not be asked still ends non-zero, as any call to it would.
    if (status.broker.reachable) return undefined;
    const { code, kind, message } = status.broker.error!;
    const ErrorClass = kind === 'network' ? NetworkError : RemoteError;
    return new ErrorClass(code, message, { hint: 'Check broker.url (BYOC_BROKER_URL), that the broker is running, and the way to it: byoc doctor.' });
  },
});

/** The embedded client's location is `embedded (FOLDER)`; the mode is said apart. */
function embeddedFolder(location: string): string {
  return /^embedded \((.*)\)$/.exec(location)?.[1] ?? location;
}

/** The identity's certificates, with what the broker says now about each one's request (as `cert show` asks). */
async function heldCertificates(ctx: Context, identity: string): Promise<HeldCertificate[]> {
  const [{ listCertificates }, { standingOf }, { summarize }] = await Promise.all([
    import('../src/pki/store.js'),
    import('../src/access/credentials.js'),
    import('../src/pki/present.js'),
  ]);
  const broker = await ctx.client('broker');
  const stored = await listCertificates(ctx.stateDir(), identity);
  return Promise.all(
    stored.map(async (certificate) => {
      const summary = summarize(certificate, ctx.clock.now());
      const { standing } = await standingOf(broker, certificate);
      return {
        service: summary.service,
        requestId: summary.requestId,
        serial: summary.serial,
        notAfter: summary.notAfter,
        remainingMs: summary.remainingMs,
        expired: summary.expired,
        requestStatus: standing.status,
        honoured: !summary.expired && standing.status === 'approved',
      };
    }),
  );
}

/** How the identity was established, in words (the text and the TTY view say the same). */
function signInText(signedIn: SignIn): string {
  if (signedIn.via === 'token') return 'a bearer token (BYOC_TOKEN), checked by the broker';
  if (signedIn.via === 'user') return `${signedIn.source} (embedded broker; nothing to sign in to)`;
  const left = signedIn.remainingMs! > 0 ? `token valid for ${formatCoarse(signedIn.remainingMs!)}` : 'token expired';
  return `an OIDC session with ${signedIn.issuer} (byoc login), ${left}${signedIn.refreshable ? ', refreshed silently' : ', not refreshable: run byoc login when it ends'}`;
}

function statusText(status: Status): string {
  const { broker } = status;
  const how = signInText(status.signedIn);
  const lines = [`identity: ${status.identity ?? 'unknown (the broker could not be asked)'}`, `signed in with: ${how}`];
  lines.push(
    broker.reachable
      ? `broker: ${broker.mode} ${broker.location}, reachable (${broker.latencyMs} ms)`
      : `broker: ${broker.mode} ${broker.location}, NOT reachable: ${broker.error!.message}`,
  );
  if (!broker.reachable) return `${lines.join('\n')}\n`;
  lines.push(status.grants.length ? 'grants:' : 'grants: none (byoc access request SERVICE --reason "...")');
  for (const grant of status.grants) lines.push(`  ${grant.service}\t${grant.id}\t${formatCoarse(grant.remainingMs)} left (until ${grant.notAfter})`);
  lines.push(status.certificates.length ? 'certificates:' : 'certificates: none');
  for (const held of status.certificates) {
    const time = held.expired ? `expired at ${held.notAfter}` : `${formatCoarse(held.remainingMs)} left (until ${held.notAfter})`;
    const standing = held.honoured ? 'honoured by the broker' : held.expired ? 'no longer usable' : `NOT honoured: request ${held.requestId} is ${held.requestStatus}`;
    lines.push(`  ${held.service}\t${held.requestId}\t${time}\t${standing}`);
  }
  return `${lines.join('\n')}\n`;
}
