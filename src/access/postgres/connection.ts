/** How byoc connects to the PostgreSQL broker store: the URL's parts, the password given apart. */
import type pg from 'pg';

/** The connection settings of a postgres:// URL, with the password given apart (never read from process.env here). */
export function connectionConfig(url: string, password?: string): pg.PoolConfig {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new Error(`not a postgres:// URL: ${redact(url)}`);
  const sslmode = parsed.searchParams.get('sslmode');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 5432,
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(database ? { database } : {}),
    // A password in the URL works, but the environment or a file is where it belongs (a URL ends up in logs).
    password: password ?? (parsed.password ? decodeURIComponent(parsed.password) : ''),
    // Any sslmode that asks for TLS gets it with the server's certificate checked: no "encrypted to anybody".
    ...(sslmode && !['disable', 'allow', 'prefer'].includes(sslmode) ? { ssl: { rejectUnauthorized: true } } : {}),
    application_name: 'byoc-broker',
  };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
