/**
 * The sandbox's grant files and the one question every broker operation asks of them: is an expiry sweep due?
 * Kept apart from the operator step (src/sandbox/operator.ts, which loads nginx and ClickHouse plumbing) so that
 * the answer, almost always "no", costs two small reads and no module loading.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SandboxPaths } from './layout.js';
import type { SandboxGrant } from './render.js';

export interface StoredGrant extends SandboxGrant {
  password: string;
}

export const grantFile = (paths: SandboxPaths, requestId: string) => path.join(paths.nginx.grants, `${requestId}.json`);

export async function readStoredGrants(paths: SandboxPaths): Promise<StoredGrant[]> {
  let files: string[];
  try {
    files = (await readdir(paths.nginx.grants)).filter((file) => /^r-[0-9a-z]+\.json$/.test(file));
  } catch {
    return [];
  }
  const grants = await Promise.all(
    files.sort().map(async (file) => {
      try {
        return JSON.parse(await readFile(path.join(paths.nginx.grants, file), 'utf8')) as StoredGrant;
      } catch {
        return undefined;
      }
    }),
  );
  return grants.filter((grant): grant is StoredGrant => grant !== undefined && typeof grant.password === 'string');
}

/** The grants whose end has passed, and whether nginx's CRL is past half its life (nginx refuses all once it lapses). */
export async function sweepDue(paths: SandboxPaths, now: number): Promise<{ expired: StoredGrant[]; crlStale: boolean }> {
  const [grants, crlStale] = await Promise.all([readStoredGrants(paths), crlNeedsRefresh(paths, now)]);
  return { expired: grants.filter((grant) => Date.parse(grant.notAfter) <= now), crlStale };
}

async function crlNeedsRefresh(paths: SandboxPaths, now: number): Promise<boolean> {
  try {
    const meta = JSON.parse(await readFile(paths.nginx.crlMeta, 'utf8')) as { thisUpdate: string; nextUpdate: string };
    const from = Date.parse(meta.thisUpdate);
    const to = Date.parse(meta.nextUpdate);
    return !(now < from + (to - from) / 2);
  } catch {
    return true;
  }
}
