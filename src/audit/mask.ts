/**
 * Credentials never leave the audit in what it prints: an error from the server or the driver can quote a URL the
 * customer (or a table function in an engineer's query) gave, with `user:password@` or `?password=`. Free text, not
 * a URL: no parser reads a URL out of a sentence, so these patterns find them; each keeps the shape (`***`) so the
 * reader sees that something was there.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"`]+@/gi;
/** `password=`, `token=` and their kin as URL parameters or settings (`?password=x&`, `access_token=x`). */
const SECRET_PARAMETER = /((?<![a-z0-9_])(?:password|passwd|pwd|token|access_token|refresh_token|id_token|secret|client_secret|api_key|apikey|key|sig|signature|x-amz-credential|x-amz-security-token)=)[^\s&#'"`;,)]+/gi;

export function maskCredentials(text: string): string {
  return text.replace(USERINFO, '$1***@').replace(SECRET_PARAMETER, '$1***');
}

/** The same error, its message, hint and causes masked (what main prints, with --verbose too). */
export function maskError(error: unknown): unknown {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    current.message = maskCredentials(current.message);
    if (current.stack) current.stack = maskCredentials(current.stack);
    const hint = (current as { hint?: unknown }).hint;
    if (typeof hint === 'string') Object.assign(current, { hint: maskCredentials(hint) });
  }
  return error;
}
