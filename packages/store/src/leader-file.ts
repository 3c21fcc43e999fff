import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { StoreError } from "./errors.js";
import { LossNotifier, type LeaderLock, type LockSettings } from "./lock-common.js";

/**
 * SQLite leader lock: Node has no flock(), so the lock is a file next to the database holding
 * the holder's pid, host and a random token; its mtime is the heartbeat.
 *
 * - Created atomically: the content is written to a private temp file and hard-linked to the lock
 *   path; link() fails if the path exists, so exactly one contender wins and nobody ever reads a
 *   half-written file.
 * - A lock file is stale when its pid is dead on this host (`process.kill(pid, 0)` → ESRCH), when
 *   it names our own pid but not a token this process holds (a restarted container reusing the
 *   pid), or when its heartbeat is older than `staleMs` (pid reused by another program, or a
 *   holder on another host sharing the folder). Stale files are taken over by renaming them aside,
 *   checking the moved file is the one judged stale, then creating ours.
 * Limitations: this is advisory (only holders using this code respect it); a holder whose event
 * loop is blocked longer than `staleMs` can be taken over and learns so at its next heartbeat
 * (onLost); network file systems without reliable link()/rename() are not supported (SQLite
 * itself is not safe there either).
 */
interface LockFileContent {
  pid: number;
  host: string;
  token: string;
  acquiredAt: number;
}

interface Seen {
  raw: string;
  content: LockFileContent | undefined;
  mtimeMs: number;
}

/** Tokens of locks this process holds now, to tell our live locks from a previous incarnation's. */
const heldTokens = new Set<string>();

export function leaderLockPath(dbPath: string, name: string): string {
  return `${dbPath}.${encodeURIComponent(name)}.leader`;
}

export async function acquireFileLock(dbPath: string, name: string, settings: LockSettings): Promise<LeaderLock | null> {
  if (dbPath === ":memory:") throw new StoreError("a leader lock needs a file-backed SQLite database");
  const path = leaderLockPath(dbPath, name);
  const mine: LockFileContent = { pid: process.pid, host: hostname(), token: randomBytes(12).toString("hex"), acquiredAt: Date.now() };
  // Two rounds: the first may only clear away a stale file.
  for (let round = 0; round < 2; round++) {
    if (createExclusive(path, mine)) return new FileLeaderLock(path, name, mine.token, settings);
    const seen = inspect(path);
    if (seen && !isStale(seen, settings.staleMs)) return null;
    if (seen && !moveAsideIfUnchanged(path, seen.raw)) return null;
  }
  return null;
}

function createExclusive(path: string, content: LockFileContent): boolean {
  const temp = `${path}.${content.token}.tmp`;
  writeFileSync(temp, JSON.stringify(content), { flag: "wx" });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if (errno(error) === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function inspect(path: string): Seen | undefined {
  try {
    const raw = readFileSync(path, "utf8");
    return { raw, content: parse(raw), mtimeMs: statSync(path).mtimeMs };
  } catch (error) {
    if (errno(error) === "ENOENT") return undefined;
    throw error;
  }
}

function parse(raw: string): LockFileContent | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockFileContent>;
    const valid = Number.isInteger(value.pid) && typeof value.token === "string" && typeof value.host === "string";
    return valid ? (value as LockFileContent) : undefined;
  } catch {
    return undefined;
  }
}

function isStale(seen: Seen, staleMs: number): boolean {
  const content = seen.content;
  if (!content) return true; // files are only ever created whole, so garbage has no live writer
  const silentTooLong = Date.now() - seen.mtimeMs > staleMs;
  if (content.host !== hostname()) return silentTooLong; // its pid means nothing on this host
  if (content.pid === process.pid) return !heldTokens.has(content.token);
  if (!pidAlive(content.pid)) return true;
  return silentTooLong; // alive pid but no heartbeat: the pid now belongs to someone else
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    return errno(error) !== "ESRCH"; // EPERM: alive, owned by another user
  }
}

/** Renames the stale file aside; if what moved is not what we judged stale, tries to put it back. */
function moveAsideIfUnchanged(path: string, staleRaw: string): boolean {
  const aside = `${path}.${randomBytes(6).toString("hex")}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errno(error) === "ENOENT") return true; // someone else cleared it: race them to create
    throw error;
  }
  const unchanged = readFileSync(aside, "utf8") === staleRaw;
  if (!unchanged) restore(aside, path);
  unlinkSync(aside);
  return unchanged;
}

function restore(aside: string, path: string): void {
  try {
    linkSync(aside, path);
  } catch {
    // A third contender created a new file meanwhile; the holder we displaced sees the change
    // at its next heartbeat and reports loss.
  }
}

class FileLeaderLock implements LeaderLock {
  readonly #loss = new LossNotifier();
  readonly #timer: NodeJS.Timeout;
  #released = false;

  constructor(
    private readonly path: string,
    readonly name: string,
    private readonly token: string,
    settings: LockSettings,
  ) {
    heldTokens.add(token);
    this.#timer = setInterval(() => this.#heartbeat(), settings.heartbeatMs).unref();
  }

  get held(): boolean {
    return !this.#released && !this.#loss.lost;
  }

  onLost(cb: (reason: Error) => void): void {
    this.#loss.onLost(cb);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#stop();
    if (this.#ours()) unlinkQuietly(this.path);
  }

  #heartbeat(): void {
    try {
      if (!this.#ours()) throw new Error("leader lock file was removed or taken over");
      const now = new Date();
      utimesSync(this.path, now, now);
    } catch (error) {
      this.#lose(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #ours(): boolean {
    return inspect(this.path)?.content?.token === this.token;
  }

  #lose(reason: Error): void {
    if (!this.held) return;
    this.#stop();
    this.#loss.fire(reason);
  }

  #stop(): void {
    clearInterval(this.#timer);
    heldTokens.delete(this.token);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errno(error) !== "ENOENT") throw error;
  }
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
