/**
 * Typed errors. Commands and domain code throw these; only src/main.ts turns them into exit codes,
 * so the table below is the single source of truth for what a runbook sees.
 */
export const EXIT_CODES = [
  { code: 0, name: 'ok', meaning: 'success (an empty result is a success)' },
  { code: 1, name: 'bug', meaning: 'unexpected failure (a bug): please report it with --verbose output' },
  { code: 2, name: 'usage', meaning: 'usage: bad flag or argument, or a prompt needed without a TTY' },
  { code: 3, name: 'config', meaning: 'configuration missing or invalid' },
  {
    code: 4,
    name: 'not-allowed',
    meaning:
      'not allowed: authentication, missing/expired certificate, your certificate refused by the server, denied or revoked access, query refused by the read-only policy or by ClickHouse access rights',
  },
  { code: 5, name: 'remote', meaning: 'remote failure: a ClickHouse exception, HTTP 5xx from a service or the proxy in front of it, the broker, Kubernetes API, or a subprocess' },
  {
    code: 6,
    name: 'network',
    meaning:
      'network path: proxy refused or unreachable, DNS, TCP, the server certificate not trusted (or misnamed, expired), or relayed when --require-direct was asked',
  },
  { code: 8, name: 'pending', meaning: 'accepted but still pending (e.g. a request awaiting approval with --no-wait)' },
  { code: 130, name: 'interrupted', meaning: 'interrupted (Ctrl-C)' },
] as const;

export type ExitKind = (typeof EXIT_CODES)[number]['name'];

export interface ErrorDetails {
  /** What the user should do next. Every refusal carries one. */
  hint?: string;
  cause?: unknown;
}

export class ByocError extends Error {
  readonly kind: ExitKind = 'bug';
  readonly hint: string | undefined;

  /** @param code stable machine-readable identifier, e.g. `access_denied` (add, never rename) */
  constructor(
    readonly code: string,
    message: string,
    details: ErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint;
  }

  get exitCode(): number {
    return exitCodeOf(this.kind);
  }
}

export class UsageError extends ByocError {
  override readonly kind = 'usage';
}
export class ConfigError extends ByocError {
  override readonly kind = 'config';
}
export class NotAllowedError extends ByocError {
  override readonly kind = 'not-allowed';
}
export class RemoteError extends ByocError {
  override readonly kind = 'remote';
}
export class NetworkError extends ByocError {
  override readonly kind = 'network';
}
export class PendingError extends ByocError {
  override readonly kind = 'pending';
}
export class InterruptedError extends ByocError {
  override readonly kind = 'interrupted';
  constructor(message = 'interrupted') {
    super('interrupted', message);
  }
}

function exitCodeOf(kind: ExitKind): number {
  return EXIT_CODES.find((entry) => entry.name === kind)!.code;
}

/** The exit code for anything thrown: typed errors carry theirs, everything else is a bug. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ByocError) return error.exitCode;
  if (isAbort(error)) return exitCodeOf('interrupted');
  return exitCodeOf('bug');
}

/** Why a signal aborted, as an Error (AbortSignal.reason is typed any; a reason that is not an Error is wrapped). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException(String(reason ?? 'aborted'), 'AbortError');
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}

export interface ErrorDocument {
  error: { code: string; message: string; hint?: string };
}

export function toErrorDocument(error: unknown): ErrorDocument {
  if (error instanceof ByocError) {
    return { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
  }
  if (isAbort(error)) return { error: { code: 'interrupted', message: 'interrupted' } };
  const message = error instanceof Error ? error.message : String(error);
  return {
    error: {
      code: 'internal',
      message,
      hint: 'This is a bug in byoc. Re-run with --verbose and report the output.',
    },
  };
}

type ErrorClass = new (code: string, message: string, details?: ErrorDetails) => ByocError;

const BY_KIND: Partial<Record<ExitKind, ErrorClass>> = {
  usage: UsageError,
  config: ConfigError,
  'not-allowed': NotAllowedError,
  remote: RemoteError,
  network: NetworkError,
  pending: PendingError,
};

/** The error class that stands for a kind (as sent over the wire, or recorded by a doctor step). */
export function errorClassOf(kind: string | undefined): ErrorClass | undefined {
  return kind ? BY_KIND[kind as ExitKind] : undefined;
}

/**
 * The same kind of error (so the same exit code and code) with another message and hint, e.g. to say what
 * was already done before it failed. The original stays as the cause.
 */
export function reworded(error: ByocError, message: string, hint: string | undefined = error.hint): ByocError {
  const ErrorClass = BY_KIND[error.kind];
  if (!ErrorClass) return error;
  return new ErrorClass(error.code, message, { ...(hint ? { hint } : {}), cause: error });
}
