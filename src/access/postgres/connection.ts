/** How byoc connects to the PostgreSQL broker store: the URL's parts, the password given apart. */
import type pg from 'pg';
import { ByocError, ConfigError, RemoteError } from '../../errors.js';

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

/**
 * A connection failure as a refusal that names the store and what to check: a wrong password, user or database is
 * the configuration's (exit 3); a database that does not answer is remote (exit 5).
 */
export function storeFailure(error: unknown, where: string): unknown {
  if (error instanceof ByocError) return error;
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  if (code === '28P01' || code === '28000' || code === '3D000') {
    return new ConfigError('store_refused', `the broker store ${where} refused byoc: ${message}`, {
      hint:
        code === '3D000'
          ? 'Create the database (CREATE DATABASE ...) or fix its name in broker.store (BYOC_BROKER_STORE), then run byoc broker migrate.'
          : 'Check the user in broker.store and the password: BYOC_BROKER_STORE_PASSWORD, PGPASSWORD or broker.storePasswordFile.',
      cause: error,
    });
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH') {
    return new RemoteError('store_unreachable', `cannot reach the broker store ${where}: ${message}`, {
      hint: 'Check that PostgreSQL runs and that broker.store (BYOC_BROKER_STORE) names its host and port.',
      cause: error,
    });
  }
  return error;
}
