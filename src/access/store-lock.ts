import { randomBytes } from 'node:crypto';
import { link, open, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RemoteError } from '../errors.js';

/** Who takes the lock, and how to tell whether another holder is still alive: the process boundary, injected. */
export interface LockOwner {
  pid: number;
  /** a lock written on another host cannot be judged from here, so it is never taken over */
  host: string;
  /** whether a process of this host is alive (a pid nobody has is gone) */
  isAlive(pid: number): boolean;
}

export interface LockOptions {
  warn: (message: string) => void;
  owner: LockOwner;
  /** how long to wait for another writer's lock before giving up (default 10 s) */
  lockTimeoutMs?: number;
  /** how old an empty or unreadable lock must be before it is taken over (default 5 s) */
  staleLockMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Asked when a live process holds the lock: an error to throw at once instead of waiting for it (the store is
   * held for good by a serving broker, so waiting would only end in a timeout), or undefined to wait.
   */
  refuse?: (holder: { pid: number; host?: string }) => Promise<Error | undefined>;
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_STALE_LOCK_MS = 5_000;

export type ReleaseLock = () => Promise<void>;

/** What identifies one lock file: a new lock never has the same inode, mtime and content as an old one. */
interface LockSnapshot {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  text: string;
}

type Verdict =
  | { kind: 'gone' }
  | { kind: 'held'; by: string; owner?: { pid: number; host?: string } }
  | { kind: 'stale'; why: string; snapshot: LockSnapshot };

/**
 * An exclusive lock between processes on one folder, as a file that names its owner.
 *
 * The lock appears atomically WITH its owner: the owner is written to a private claim file first, which is then
 * hard-linked to the lock's name (link() fails with EEXIST when the name is taken, on every local file system). So
 * a lock file is never seen empty or half-written, and a crash can only leave a complete lock naming a dead pid.
 *
 * A lock is taken over when its owner is gone (same host, pid not alive), or when it is empty or unreadable and
 * older than `staleLockMs` (left by an older byoc, which created the file first and wrote the pid after, or by a
 * disk that lost the write). Its age is measured against our own fresh claim file's mtime, so only the file
 * system's clock is involved, never a (possibly fake or skewed) process clock.
 */
export class FileLock {
  constructor(
    private readonly file: string,
    private readonly options: LockOptions,
  ) {}

  async acquire(): Promise<ReleaseLock> {
    const timeout = this.options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const { owner } = this.options;
    let waited = 0;
    let holder = 'another byoc process';
    for (let attempt = 0; ; attempt++) {
      const claim = `${this.file}.${owner.pid}.${randomBytes(6).toString('hex')}.claim`;
      await writeFile(claim, `${JSON.stringify({ pid: owner.pid, host: owner.host })}\n`, { flag: 'wx', mode: 0o600 });
      try {
        try {
          await link(claim, this.file);
          const mine = await stat(claim, { bigint: true });
          return () => this.release(mine.ino, mine.mtimeNs);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
            throw new RemoteError('store_lock_unsupported', `the file system of ${path.dirname(this.file)} has no hard links, which the broker store's lock needs (${code})`, {
              hint: 'Keep the state folder (BYOC_STATE_DIR) on a local file system.',
              cause: error,
            });
          }
          if (code !== 'EEXIST') throw error;
        }
        const verdict = await this.judge(claim);
        if (verdict.kind === 'gone') continue;
        if (verdict.kind === 'stale') {
          if (await this.remove(verdict)) continue;
        } else {
          holder = verdict.by;
          const refusal = verdict.owner && (await this.options.refuse?.(verdict.owner));
          if (refusal) throw refusal;
        }
      } finally {
        await rm(claim, { force: true });
      }
      if (waited >= timeout) {
        throw new RemoteError('store_locked', `the broker store lock ${this.file} is held by ${holder}`, {
          hint: `Wait for it to finish and retry. If that process is stuck, stop it; a lock of a process that is gone is taken over by itself.`,
        });
      }
      const pause = Math.min(50, 2 + attempt * 2);
      await sleep(pause);
      waited += pause;
    }
  }

  private async judge(claim: string): Promise<Verdict> {
    const snapshot = await readSnapshot(this.file);
    if (!snapshot) return { kind: 'gone' };
    const owner = parseOwner(snapshot.text);
    if (owner) {
      const { host, pid } = owner;
      if (host !== undefined && host !== this.options.owner.host) return { kind: 'held', by: `process ${pid} on host ${host}`, owner };
      if (this.options.owner.isAlive(pid)) return { kind: 'held', by: `process ${pid}`, owner };
      return { kind: 'stale', why: `left by process ${pid}, which is gone`, snapshot };
    }
    const now = (await stat(claim, { bigint: true })).mtimeNs;
    const ageMs = Number(now - snapshot.mtimeNs) / 1e6;
    const limit = this.options.staleLockMs ?? DEFAULT_STALE_LOCK_MS;
    if (ageMs < limit) return { kind: 'held', by: 'a process that is still writing it (it is empty or unreadable)' };
    return { kind: 'stale', why: `empty or unreadable for ${Math.round(ageMs / 1000)} s`, snapshot };
  }

  /**
   * Removes a lock judged stale, only if it is still that same lock. Every removal happens under a second, short
   * lock (the takeover lock) with a fresh look at the lock first: two processes may judge the same lock stale, and
   * the faster one may already have replaced it with its own live lock, which a fresh look finds alive. While the
   * takeover lock is held nobody else can remove the lock, so what was looked at is what is removed.
   *
   * Residual risk: the takeover lock of a process that died while holding it (a few milliseconds of work) is
   * removed once its pid is gone; two processes doing that at the same moment could remove a third one's fresh
   * takeover lock. That needs a crash during a takeover, not mere contention.
   */
  private async remove(verdict: Extract<Verdict, { kind: 'stale' }>): Promise<boolean> {
    const releaseTakeover = await this.takeover();
    if (!releaseTakeover) return false;
    try {
      const current = await readSnapshot(this.file);
      if (!current) return true;
      if (!sameLock(current, verdict.snapshot)) return false;
      await unlink(this.file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      this.options.warn(`took over the broker store lock ${this.file}: ${verdict.why}`);
      return true;
    } finally {
      await releaseTakeover();
    }
  }

  /** The takeover lock, or undefined when another process holds it (the caller waits and looks again). */
  private async takeover(): Promise<ReleaseLock | undefined> {
    const { owner } = this.options;
    const file = `${this.file}.takeover`;
    const claim = `${file}.${owner.pid}.${randomBytes(6).toString('hex')}.claim`;
    await writeFile(claim, `${JSON.stringify({ pid: owner.pid, host: owner.host })}\n`, { flag: 'wx', mode: 0o600 });
    try {
      try {
        await link(claim, file);
        const mine = await stat(claim, { bigint: true });
        return () => releaseIfOwn(file, mine.ino, mine.mtimeNs);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = await readSnapshot(file);
      const holder = held && parseOwner(held.text);
      if (held && holder && (holder.host === undefined || holder.host === owner.host) && !owner.isAlive(holder.pid)) {
        await releaseIfOwn(file, held.ino, held.mtimeNs);
      }
      return undefined;
    } finally {
      await rm(claim, { force: true });
    }
  }

  private async release(ino: bigint, mtimeNs: bigint): Promise<void> {
    // Remove only our own lock: had it been taken over (we were judged gone), the file is someone else's now.
    await releaseIfOwn(this.file, ino, mtimeNs);
  }
}

async function releaseIfOwn(file: string, ino: bigint, mtimeNs: bigint): Promise<void> {
  const current = await stat(file, { bigint: true }).catch(() => undefined);
  if (current && current.ino === ino && current.mtimeNs === mtimeNs) await unlink(file).catch(() => undefined);
}

/** Content, inode, size and mtime read from one open file, so they belong to the same lock. */
async function readSnapshot(file: string): Promise<LockSnapshot | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const info = await handle.stat({ bigint: true });
    // A lock is a few dozen bytes; anything long is not a byoc lock, and its content does not matter.
    const buffer = Buffer.alloc(Math.min(Number(info.size), 512));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, text: buffer.toString('utf8', 0, bytesRead) };
  } finally {
    await handle.close();
  }
}

function sameLock(a: LockSnapshot, b: LockSnapshot): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.text === b.text;
}

/** `{"pid":1,"host":"h"}`; a bare pid is the format of older byoc versions (always the same host). */
function parseOwner(text: string): { pid: number; host?: string } | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const pid = Number(trimmed);
    return pid > 0 ? { pid } : undefined;
  }
  try {
    const value = JSON.parse(trimmed) as { pid?: unknown; host?: unknown };
    if (Number.isInteger(value.pid) && (value.pid as number) > 0 && typeof value.host === 'string') return { pid: value.pid as number, host: value.host };
  } catch {
    // unreadable: judged by its age
  }
  return undefined;
}
