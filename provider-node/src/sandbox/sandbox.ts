/**
 * Runs one engine process under the limits a provider grants, isolated by bubblewrap. Every
 * engine adapter starts its engine through `runSandboxed`, never through `child_process`.
 *
 * Isolation (`isolation: "bubblewrap"`, the default; see bubblewrap.ts for the exact layout):
 * the engine sees only its installation (/usr and the few /etc files the loader needs), the
 * request's read-only paths (the scene), its work folder (writable), a private /tmp, its own
 * /proc and a minimal /dev; it runs as uid 65534 of a user namespace without capabilities, with
 * no network (a namespace with only loopback), no view of other processes, and dies when the
 * node dies. If bubblewrap cannot start here, the run fails with a `FatalError`
 * `SANDBOX_UNAVAILABLE` saying what to install or allow; nothing falls back silently. An operator
 * may opt out with `isolation: "none"` (config `sandbox.isolation`): a warning is logged on every run.
 *
 * Always enforced, with or without bubblewrap:
 * - a wall-clock limit: SIGTERM to the whole process group, SIGKILL after a grace period;
 * - an address-space limit per process (`prlimit --as`), no core dumps, at most 4096 open files;
 * - at most `maxTasks` processes and threads together, by a pids cgroup (see pidsCgroup.ts),
 *   where this machine lets the node create one; otherwise a warning is logged once;
 * - a minimal environment built from an allow-list (nothing of the node's environment, so no
 *   keys or tokens, leaks into the engine);
 * - lower CPU priority (`nice -n 10`);
 * - a crash, a timeout or a non-zero exit becomes a typed `EngineError`.
 *
 * Measured: the CPU time (user + system) of the engine and everything it started, by a shell
 * inside the sandbox that starts the engine, waits for it and writes its `times` into the work
 * folder (see {@link CPU_TIMES_SCRIPT}); it is in the result and reported to `onUsage`. The node
 * cannot see that time itself: bwrap exits as soon as its PID 1 reports the engine's exit status,
 * without reaping that PID 1, so the engine's CPU never reaches the node's reaped-children counters
 * (`/proc/<node>/stat` cutime/cstime stay at zero; measured with POV-Ray).
 *
 * Not enforced: a CPU-time quota (the engine's own thread count is the lever) and a memory limit
 * for the run as a whole (the address-space limit is per process).
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, realpath, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Writable } from "node:stream";
import { FatalError } from "@tessellate/sdk/errors";
import { assertBubblewrapWorks, bubblewrapArguments, DEFAULT_BWRAP } from "./bubblewrap.ts";
import type { EngineDiagnostics } from "../engines/engineDiagnostics.ts";
import { EngineError } from "./engineError.ts";
import { createPidsCgroup, pidsCgroupParent } from "./pidsCgroup.ts";

/** How many lines of output an `EngineError` and the tails carry. */
export const TAIL_LINES = 20;
/** Time between SIGTERM and SIGKILL when a run is stopped. */
const KILL_GRACE_MS = 2_000;
const NICE_LEVEL = 10;
const MAX_OPEN_FILES = 4096;
const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin";
/** Where work folders go when the caller names no root (tests, scripts); a node uses its data dir. */
export const DEFAULT_WORK_ROOT = join(tmpdir(), "tessellate-engine-work");

/** Tasks (processes + threads) a run may have when the request does not say: room for the engine's threads. */
export function defaultMaxTasks(threads: number): number {
  return 64 + 2 * threads;
}

/** How engines are isolated: `bubblewrap` (default) or `none` (no isolation, opt-in, warned about on every run). */
export type SandboxIsolation = "bubblewrap" | "none";

export const NO_ISOLATION_WARNING =
  'sandbox.isolation is "none": engines run WITHOUT isolation — a scene can read every file this node can ' +
  "(its keys and data folder included), reach the network and see other processes. Use it only for trusted scenes.";

export interface SandboxLogger {
  warn(details: object, message: string): void;
}

/** How a node runs its engines; every adapter takes these and passes them to each run. */
export interface SandboxOptions {
  isolation?: SandboxIsolation;
  /** The bubblewrap binary (default /usr/bin/bwrap). */
  bwrap?: string;
  /** The folder under which work folders are created (default {@link DEFAULT_WORK_ROOT}). */
  workRoot?: string;
  /** Called after every run that exited cleanly, with the CPU time it used (metrics, benchmarks). */
  onUsage?: (usage: EngineUsage) => void;
}

/** What one engine run cost. */
export interface EngineUsage {
  command: string;
  /** CPU seconds, user + system, of the engine and every process it started (10 ms resolution). */
  cpuSeconds: number;
  wallMs: number;
}

export interface SandboxRequest extends Omit<SandboxOptions, "workRoot"> {
  /** The program to run, looked up on a fixed PATH (`/usr/local/bin:/usr/bin:/bin`). */
  command: string;
  args: string[];
  /** Working directory of the process; defaults to `workDir`. */
  cwd?: string;
  /**
   * Folders (or single files) the process may read but must not change: the scene, and files
   * the adapter ships (a script). With bubblewrap, nothing else outside the engine's
   * installation exists for the process.
   */
  readOnlyDirs: string[];
  /** The only folder the process may write to; also its HOME, and TMPDIR is `workDir/tmp`. */
  workDir: string;
  /**
   * Files given by content, placed read-only at these absolute paths inside the sandbox (e.g.
   * POV-Ray's /etc/povray/3.7/povray.conf). Not placed when `isolation` is `none`.
   */
  files?: Array<{ path: string; content: string }>;
  /** Extra environment variables, added to the allow-listed minimum. Nothing is inherited. */
  env?: Record<string, string>;
  /** Threads the engine is told to use (also exported as OMP_NUM_THREADS). */
  threads: number;
  /** Address-space limit in bytes (RLIMIT_AS) for the process and everything it starts. */
  memoryBytes: number;
  /** Most processes and threads the run may have at once (default {@link defaultMaxTasks}). */
  maxTasks?: number;
  /** Wall-clock limit in milliseconds. */
  timeoutMs: number;
  /** Aborting kills the process group; the promise then rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Called with every line the process prints (`\n` or `\r` terminated). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /**
   * Keeps the engine's error lines from all of its output (see engines/engineDiagnostics.ts): a
   * failure's message then names their summary instead of the last line printed.
   */
  diagnostics?: EngineDiagnostics;
  logger?: SandboxLogger;
}

export interface SandboxResult {
  /** Always 0: any other outcome rejects with an `EngineError`. */
  exitCode: number;
  /** The last lines printed on each stream, joined with `\n`. */
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
  /** CPU seconds (user + system) of the engine and what it started; absent when it could not be read. */
  cpuSeconds?: number;
}

/** What a node's engines get on this machine, for its start-up log. */
export interface SandboxReport {
  isolation: SandboxIsolation;
  /** Why bubblewrap cannot start here (every sandboxed render will fail), when it cannot. */
  unavailable?: string;
  /** Why processes cannot be capped here, when they cannot. */
  noProcessCap?: string;
}

/** Checks, without running an engine, what `options` give engines here. */
export async function checkSandbox(options: SandboxOptions = {}): Promise<SandboxReport> {
  const isolation = options.isolation ?? "bubblewrap";
  const report: SandboxReport = { isolation };
  if (isolation === "bubblewrap") {
    try {
      await assertBubblewrapWorks(options.bwrap ?? DEFAULT_BWRAP);
    } catch (error) {
      report.unavailable = (error as Error).message;
    }
  }
  const cgroup = await pidsCgroupParent();
  if ("unavailable" in cgroup) report.noProcessCap = cgroup.unavailable;
  return report;
}

/**
 * Creates a private work folder (mode 0700) under `root`, hands it to `fn`, and deletes it
 * afterwards. What a killed node leaves there, {@link removeLeftoverWorkDirs} removes.
 */
export async function withWorkDir<T>(label: string, fn: (workDir: string) => Promise<T>, root = DEFAULT_WORK_ROOT): Promise<T> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await realpath(await mkdtemp(join(root, `${label}-`)));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Deletes every work folder under `root` (call it at start, before any render). Returns their names. */
export async function removeLeftoverWorkDirs(root: string): Promise<string[]> {
  const names = await readdir(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  await Promise.all(names.map((name) => rm(join(root, name), { recursive: true, force: true })));
  return names;
}

/** A runner with `runSandboxed`'s shape, so adapters can take a substitute in tests. */
export type SandboxRunner = (request: SandboxRequest) => Promise<SandboxResult>;

let warnedNoProcessCap = false;

/** Runs `request.command` in the sandbox described at the top of this file. */
export async function runSandboxed(request: SandboxRequest): Promise<SandboxResult> {
  request.signal?.throwIfAborted();
  const logger = request.logger ?? defaultLogger;
  const isolation = request.isolation ?? "bubblewrap";
  if (isolation !== "bubblewrap" && isolation !== "none") {
    throw new FatalError("SANDBOX_INVALID", `sandbox isolation "${String(isolation)}" is unknown; use "bubblewrap" or "none"`);
  }
  const workDir = await realpath(resolve(request.workDir));
  const readOnlyDirs = await Promise.all(request.readOnlyDirs.map((dir) => realpath(resolve(dir))));
  for (const dir of readOnlyDirs) {
    if (isInside(workDir, dir)) {
      throw new EngineError("ENGINE_FAILED", `the work dir ${workDir} lies inside the read-only dir ${dir}; use a separate folder`, {
        exitCode: null,
        signal: null,
        lastLines: [],
      });
    }
  }
  await mkdir(join(workDir, "tmp"), { recursive: true });
  const cwd = request.cwd ?? workDir;
  const env: Record<string, string> = {
    PATH: SAFE_PATH,
    HOME: workDir,
    TMPDIR: join(workDir, "tmp"),
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    OMP_NUM_THREADS: String(request.threads),
    ...request.env,
  };

  const files = isolation === "bubblewrap" ? (request.files ?? []) : [];
  let sandboxPrefix: string[] = [];
  if (isolation === "bubblewrap") {
    const bwrap = request.bwrap ?? DEFAULT_BWRAP;
    await assertBubblewrapWorks(bwrap);
    const dataFiles = files.map((file, index) => ({ path: file.path, fd: 3 + index }));
    sandboxPrefix = bubblewrapArguments(bwrap, { readOnlyPaths: readOnlyDirs, workDir, cwd, env, dataFiles });
  } else {
    logger.warn({ command: request.command }, NO_ISOLATION_WARNING);
  }

  const cgroup = await createPidsCgroup(request.maxTasks ?? defaultMaxTasks(request.threads));
  if ("unavailable" in cgroup && !warnedNoProcessCap) {
    warnedNoProcessCap = true;
    logger.warn({ reason: cgroup.unavailable }, "the number of processes an engine may start is NOT capped on this machine");
  }
  const joinCgroup = "dir" in cgroup ? ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', join(cgroup.dir, "cgroup.procs")] : [];

  const argv = [
    ...joinCgroup,
    "prlimit",
    `--as=${Math.floor(request.memoryBytes)}`,
    "--core=0",
    `--nofile=${MAX_OPEN_FILES}`,
    "--",
    "nice",
    "-n",
    String(NICE_LEVEL),
    ...sandboxPrefix,
    "/bin/sh",
    "-c",
    CPU_TIMES_SCRIPT,
    join(workDir, CPU_TIMES_FILE),
    request.command,
    ...request.args,
  ];
  const outside = sandboxPrefix.length > 0 ? { cwd: workDir, env: { PATH: SAFE_PATH } } : { cwd, env };
  let result: SandboxResult;
  try {
    result = await run(argv, outside.cwd, outside.env, files, request);
  } finally {
    if ("dir" in cgroup) await cgroup.remove();
  }
  const cpuSeconds = await readCpuTimes(join(workDir, CPU_TIMES_FILE));
  if (cpuSeconds === undefined) return result;
  request.onUsage?.({ command: request.command, cpuSeconds, wallMs: result.durationMs });
  return { ...result, cpuSeconds };
}

/** Where the shell that starts the engine writes its `times` (in the work folder; removed after reading). */
const CPU_TIMES_FILE = ".tessellate-cpu-times";

/**
 * Runs the engine (`"$@"`), waits for it and writes the shell's `times` to `$0`: its own and its
 * waited-for children's user and system time, as `0m0.01s 0m0.00s` lines. The engine's exit
 * status passes through (a death by signal n as 128 + n, as bwrap reports its child's).
 */
const CPU_TIMES_SCRIPT = '"$@"; status=$?; times > "$0" 2>/dev/null; exit $status';

/** The children's user + system seconds from a `times` output file, which is then deleted. */
async function readCpuTimes(path: string): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  await rm(path, { force: true });
  const children = text?.trim().split("\n")[1];
  if (children === undefined) return undefined;
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return seconds.length === 2 && seconds.every(Number.isFinite) ? seconds[0]! + seconds[1]! : undefined;
}

function run(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
  files: Array<{ content: string }>,
  request: SandboxRequest,
): Promise<SandboxResult> {
  const started = performance.now();
  const tails = { stdout: new Tail(), stderr: new Tail(), both: new Tail() };
  const commandName = request.command;

  return new Promise<SandboxResult>((resolvePromise, rejectPromise) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env,
      detached: true,
      // Descriptors 3… carry the `files` to bwrap (`--ro-bind-data <fd> <path>`).
      stdio: ["ignore", "pipe", "pipe", ...files.map(() => "pipe" as const)],
    });
    files.forEach((file, index) => {
      const pipe = child.stdio[3 + index] as Writable;
      pipe.on("error", () => {}); // bwrap not started: the exit status reports it
      pipe.end(file.content);
    });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;

    const stop = () => {
      signalGroup("SIGTERM");
      killTimer ??= setTimeout(() => signalGroup("SIGKILL"), KILL_GRACE_MS);
    };
    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      stop();
    }, request.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    request.signal?.addEventListener("abort", onAbort, { once: true });

    for (const stream of ["stdout", "stderr"] as const) {
      const splitter = new LineSplitter((line) => {
        tails[stream].push(line);
        tails.both.push(line);
        request.diagnostics?.push(line);
        request.onLine?.(line, stream);
      });
      const output = child[stream]!;
      output.setEncoding("utf8");
      output.on("data", (chunk: string) => splitter.write(chunk));
      output.on("end", () => splitter.end());
    }

    let spawnError: Error | undefined;
    let settled = false;
    const finish = (exitCode: number | null, processSignal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      // The engine is a child of the shell that times it (and inside bubblewrap, of bwrap), which
      // reports a death by signal n as exit status 128 + n.
      let signal: string | null = processSignal;
      if (exitCode !== null && exitCode > 128 && signalNames.has(exitCode - 128)) {
        signal = signalNames.get(exitCode - 128)!;
        exitCode = null;
      }
      clearTimeout(timeoutTimer);
      if (killTimer) clearTimeout(killTimer);
      request.signal?.removeEventListener("abort", onAbort);
      // Whatever the engine left running in its group goes too.
      signalGroup("SIGKILL");
      const durationMs = Math.round(performance.now() - started);
      const lastLines = tails.both.lines();
      const details = { exitCode, signal, lastLines, diagnostics: request.diagnostics?.lines() ?? [] };
      const cause = request.diagnostics?.summary();
      const seconds = (request.timeoutMs / 1000).toFixed(1);
      if (aborted) {
        rejectPromise(request.signal?.reason);
      } else if (spawnError) {
        rejectPromise(
          new EngineError("ENGINE_FAILED", `could not start ${commandName}: ${spawnError.message}`, { ...details, cause: spawnError }),
        );
      } else if (timedOut) {
        rejectPromise(
          new EngineError(
            "RENDER_TIMEOUT",
            `${commandName} did not finish within ${seconds} s and was killed; grant a longer time limit or render a smaller segment`,
            details,
          ),
        );
      } else if (signal !== null) {
        rejectPromise(
          new EngineError("ENGINE_CRASHED", `${commandName} crashed (${signal})${describe(lastLines, cause)}`, details),
        );
      } else if (exitCode !== 0) {
        rejectPromise(
          new EngineError("ENGINE_FAILED", `${commandName} exited with status ${exitCode}${describe(lastLines, cause)}`, details),
        );
      } else {
        resolvePromise({ exitCode: 0, stdoutTail: tails.stdout.text(), stderrTail: tails.stderr.text(), durationMs });
      }
    };
    child.on("error", (error) => {
      spawnError = error;
      // No 'close' follows when the process could not be started at all.
      if (child.pid === undefined) finish(null, null);
    });
    child.on("close", finish);
  });
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]));

/** `: <cause>`, the engine's error lines when it printed any, else its last line. */
function describe(lastLines: string[], cause: string | undefined): string {
  if (cause !== undefined) return `: ${cause}`;
  const last = lastLines.findLast((line) => line.trim() !== "");
  return last === undefined ? "" : `: ${last.trim()}`;
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

const defaultLogger: SandboxLogger = {
  warn(details, message) {
    process.emitWarning(`${message} ${JSON.stringify(details)}`, { code: "TESSELLATE_SANDBOX" });
  },
};

/** Keeps the last `TAIL_LINES` lines. */
class Tail {
  private readonly buffer: string[] = [];
  push(line: string): void {
    this.buffer.push(line);
    if (this.buffer.length > TAIL_LINES) this.buffer.shift();
  }
  lines(): string[] {
    return [...this.buffer];
  }
  text(): string {
    return this.buffer.join("\n");
  }
}

/** Splits a text stream into lines on `\n`, `\r\n` or a lone `\r` (progress counters). */
class LineSplitter {
  private pending = "";
  private readonly emit: (line: string) => void;
  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }
  write(chunk: string): void {
    const parts = (this.pending + chunk).split(/\r\n|\r|\n/);
    this.pending = parts.pop() ?? "";
    for (const line of parts) if (line !== "") this.emit(line);
  }
  end(): void {
    if (this.pending !== "") this.emit(this.pending);
    this.pending = "";
  }
}
