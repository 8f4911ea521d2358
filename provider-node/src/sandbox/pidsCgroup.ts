/**
 * Caps the number of tasks (processes and threads) of one engine run with a pids cgroup.
 *
 * Why a cgroup: RLIMIT_NPROC (`prlimit --nproc`) counts the processes of the engine's *real* uid
 * outside its user namespace. The node runs as root, bwrap maps the sandbox's uid 65534 to that
 * root, and the kernel never applies RLIMIT_NPROC to root (measured: 60 processes start under
 * `prlimit --nproc=20`). Running bwrap as a host uid would count every process of that uid on
 * the machine. A pids cgroup counts exactly the run's tasks, whatever their uid.
 *
 * The node needs a pids controller it may write to: the cgroup v1 `pids` hierarchy, or cgroup
 * v2 where the node's own cgroup delegates `pids` to children (its `cgroup.subtree_control`
 * lists it). Each run gets `<that cgroup>/tessellate-engine-<node pid>-<n>`, which the engine's
 * first process joins before it execs the sandbox; children inherit it.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

const PREFIX = "tessellate-engine-";

/** One run's cgroup. */
export interface PidsCgroup {
  /** The cgroup folder; its `cgroup.procs` is what a process writes its pid into to join. */
  dir: string;
  /** Kills whatever is still in the cgroup and removes it. */
  remove(): Promise<void>;
}

let parent: Promise<{ dir: string } | { unavailable: string }> | undefined;
let counter = 0;

/** The cgroup under which runs get theirs, or why there is none. Found once per process. */
export function pidsCgroupParent(): Promise<{ dir: string } | { unavailable: string }> {
  parent ??= findParent();
  return parent;
}

/** Creates a cgroup allowing at most `maxTasks` tasks, or returns why that is impossible here. */
export async function createPidsCgroup(maxTasks: number): Promise<PidsCgroup | { unavailable: string }> {
  const found = await pidsCgroupParent();
  if ("unavailable" in found) return found;
  const dir = join(found.dir, `${PREFIX}${process.pid}-${++counter}`);
  try {
    await mkdir(dir);
    await writeFile(join(dir, "pids.max"), String(maxTasks));
  } catch (error) {
    await rmdir(dir).catch(() => {});
    return { unavailable: `cannot create the pids cgroup ${dir}: ${(error as Error).message}` };
  }
  return { dir, remove: () => removeCgroup(dir) };
}

async function findParent(): Promise<{ dir: string } | { unavailable: string }> {
  let mountinfo: string;
  let membership: string;
  try {
    [mountinfo, membership] = await Promise.all([readFile("/proc/self/mountinfo", "utf8"), readFile("/proc/self/cgroup", "utf8")]);
  } catch (error) {
    return { unavailable: `cannot read this process's cgroups: ${(error as Error).message}` };
  }
  const candidates: string[] = [];
  for (const line of mountinfo.split("\n")) {
    // <id> <parent> <dev> <root> <mount point> <options> [optional...] - <type> <source> <super options>
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(" ")[4]!;
    const [type, , superOptions = ""] = right.split(" ");
    if (type === "cgroup" && superOptions.split(",").includes("pids")) {
      const path = /^\d+:[^:]*\bpids\b[^:]*:(.*)$/m.exec(membership)?.[1];
      if (path !== undefined) candidates.push(join(mountPoint, path));
    } else if (type === "cgroup2") {
      const path = /^0::(.*)$/m.exec(membership)?.[1];
      if (path === undefined) continue;
      const own = join(mountPoint, path);
      const delegated = await readFile(join(own, "cgroup.subtree_control"), "utf8").catch(() => "");
      if (delegated.split(/\s+/).includes("pids")) candidates.push(own);
    }
  }
  const problems: string[] = [];
  for (const dir of candidates) {
    const trial = join(dir, `${PREFIX}${process.pid}-probe`);
    try {
      await mkdir(trial);
      await writeFile(join(trial, "pids.max"), "1");
      await rmdir(trial);
      await removeOrphans(dir);
      return { dir };
    } catch (error) {
      await rmdir(trial).catch(() => {});
      problems.push(`${dir}: ${(error as Error).message}`);
    }
  }
  return {
    unavailable:
      candidates.length === 0
        ? "no pids cgroup controller is available to this process (cgroup v1 `pids` not mounted, and its cgroup v2 does not delegate `pids`)"
        : `no pids cgroup is writable (${problems.join("; ")})`,
  };
}

/** Removes the cgroups of node processes that no longer exist (a node killed with SIGKILL). */
async function removeOrphans(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/^tessellate-engine-(\d+)-/.exec(name)?.[1]);
    // A node process still running (in this PID namespace) keeps its cgroups.
    if (!Number.isSafeInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    await removeCgroup(join(dir, name)).catch(() => {});
  }
}

async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const procs = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
    for (const pid of procs.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      // EBUSY while the killed tasks are still being torn down.
      if (attempt >= 100) throw error;
      await delay(20);
    }
  }
}
