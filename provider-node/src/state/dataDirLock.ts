/**
 * One node per data dir. Two processes on one data dir (and so one key) would claim, render and
 * commit over each other's replicas; the second one refuses to start instead.
 *
 * The lock is the file `<dataDir>/node.lock`, created exclusively (O_EXCL) and holding the owner's
 * PID and start time. A lock whose process no longer exists (a node killed with SIGKILL, a power
 * cut) is stale: it is replaced, with a log line. The lock is removed when the node stops.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { FatalError } from "@tessellate/sdk/errors";

export const LOCK_FILE = "node.lock";

/** Paths locked by this process (a second node in the same process is refused too). */
const heldHere = new Set<string>();

export interface DataDirLock {
  path: string;
  /** The PID of a stale lock that was replaced, if any. */
  replacedStalePid: number | undefined;
  release(): void;
}

/**
 * Takes the data dir's lock.
 * @throws FatalError `DATA_DIR_LOCKED` naming the process that holds it and the lock file.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  let replacedStalePid: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() })}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") throw locked(dataDir, path, ownerOf(path));
        throw new FatalError("DATA_DIR_UNWRITABLE", `Cannot create the lock file ${path} (${(error as NodeJS.ErrnoException).code ?? error}) — the data dir must be writable`, { cause: error });
      }
      const owner = ownerOf(path);
      if (owner.pid !== undefined && (heldHere.has(path) || (owner.pid !== process.pid && isAlive(owner.pid)))) throw locked(dataDir, path, owner);
      // Stale: its process is gone (or the file is unreadable half-written junk).
      replacedStalePid = owner.pid;
      rmSync(path, { force: true });
    }
  }
  heldHere.add(path);
  let released = false;
  return {
    path,
    replacedStalePid,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      try {
        if (ownerOf(path).pid === process.pid) rmSync(path, { force: true });
      } catch {
        // A data dir gone read-only: the lock stays, and is stale once this process ends.
      }
    },
  };
}

function locked(dataDir: string, path: string, owner: { pid?: number; startedAt?: string }): FatalError {
  const who = owner.pid === undefined ? "another process" : `process ${owner.pid}${owner.startedAt ? ` (started ${owner.startedAt})` : ""}`;
  return new FatalError(
    "DATA_DIR_LOCKED",
    `The data dir ${dataDir} is in use by ${who} (lock file ${path}) — two nodes on one data dir would work over each other's replicas; stop the other node, or give this one its own data dir (TESSELLATE_DATA_DIR / --data-dir)`,
  );
}

function ownerOf(path: string): { pid?: number; startedAt?: string } {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown; startedAt?: unknown };
    return { pid: Number.isInteger(parsed.pid) ? (parsed.pid as number) : undefined, startedAt: typeof parsed.startedAt === "string" ? parsed.startedAt : undefined };
  } catch {
    return {};
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}
