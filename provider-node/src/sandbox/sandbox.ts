/**
 * Runs one engine process under the limits a provider grants, with as much isolation as this
 * machine allows. Every engine adapter starts its engine through `runSandboxed`, never through
 * `child_process` directly.
 *
 * What is always enforced (plain Linux, no privileges needed):
 * - a wall-clock limit: SIGTERM to the whole process group, SIGKILL after a grace period;
 * - an address-space limit (`prlimit --as`), no core dumps, at most 4096 open files;
 * - a minimal environment built from an allow-list (nothing of the node's environment, so no
 *   keys or tokens, leaks into the engine);
 * - lower CPU priority (`nice -n 10`);
 * - a crash, a timeout or a non-zero exit becomes a typed `EngineError`.
 *
 * What is enforced when `unshare` may create namespaces (probed once, see `probeIsolation`):
 * - no network: a fresh network namespace holds only a loopback interface that is down, so
 *   even 127.0.0.1 is unreachable;
 * - read-only file system: every mount is remounted read-only, except the work dir; the scene
 *   dirs are bind-mounted read-only explicitly (that step must succeed, or nothing runs);
 * - a PID namespace with its own /proc: the engine sees no other process (nor their
 *   environments), and when it exits everything it started dies with it;
 * - no capabilities: the engine runs with an empty bounding set and no-new-privs, so it cannot
 *   undo the read-only mounts.
 * When namespaces are not permitted, the engine runs without them and a warning is logged once.
 *
 * Not enforced: a limit on the number of processes (RLIMIT_NPROC counts every process of the
 * user, so it is unusable when the node runs as root; use a pids cgroup, e.g. systemd's
 * TasksMax, for that) and a CPU-time quota (the engine's own thread count is the lever).
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "./engineError.ts";

/** How many lines of output an `EngineError` and the tails carry. */
export const TAIL_LINES = 20;
/** Time between SIGTERM and SIGKILL when a run is stopped. */
const KILL_GRACE_MS = 2_000;
const NICE_LEVEL = 10;
const MAX_OPEN_FILES = 4096;
const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin";
const ENTER_SCRIPT = fileURLToPath(new URL("./enterSandbox.sh", import.meta.url));

export interface SandboxLogger {
  warn(details: object, message: string): void;
}

export interface SandboxRequest {
  /** The program to run, looked up on a fixed PATH (`/usr/local/bin:/usr/bin:/bin`). */
  command: string;
  args: string[];
  /** Working directory of the process; defaults to `workDir`. */
  cwd?: string;
  /** Folders the process may read but must not change (the scene). */
  readOnlyDirs: string[];
  /** The only folder the process may write to; also its HOME, and TMPDIR is `workDir/tmp`. */
  workDir: string;
  /** Extra environment variables, added to the allow-listed minimum. Nothing is inherited. */
  env?: Record<string, string>;
  /** Threads the engine is told to use (also exported as OMP_NUM_THREADS). */
  threads: number;
  /** Address-space limit in bytes (RLIMIT_AS) for the process and everything it starts. */
  memoryBytes: number;
  /** Wall-clock limit in milliseconds. */
  timeoutMs: number;
  /** Aborting kills the process group; the promise then rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Called with every line the process prints (`\n` or `\r` terminated). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /**
   * `auto` (default): namespaces when this machine permits them. `none`: limits, timeout and a
   * minimal environment only — for diagnosing an engine, never for untrusted scenes.
   */
  isolation?: "auto" | "none";
  logger?: SandboxLogger;
}

export interface SandboxResult {
  /** Always 0: any other outcome rejects with an `EngineError`. */
  exitCode: number;
  /** The last lines printed on each stream, joined with `\n`. */
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
}

/** The isolation this machine gives an engine process. */
export interface IsolationReport {
  /**
   * `user-namespaces`: user, mount, network and PID namespaces (works unprivileged).
   * `namespaces`: mount, network and PID namespaces without a user namespace (needs root).
   * `none`: no namespaces could be created.
   */
  mode: "user-namespaces" | "namespaces" | "none";
  /** The engine cannot open any network connection, loopback included. */
  noNetwork: boolean;
  /** The scene dirs and every other mount are read-only; only the work dir is writable. */
  readOnlyFileSystem: boolean;
  /** The engine sees only its own processes, which all die with it. */
  pidNamespace: boolean;
  /** Why isolation is weaker than intended, when it is. */
  warning?: string;
}

const UNSHARE_FLAGS = ["--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private"];

const MODES: Array<{ mode: IsolationReport["mode"]; prefix: string[] }> = [
  { mode: "user-namespaces", prefix: ["unshare", "--user", "--map-root-user", ...UNSHARE_FLAGS] },
  { mode: "namespaces", prefix: ["unshare", ...UNSHARE_FLAGS] },
];

let probed: Promise<IsolationReport> | undefined;
let warned = false;

/**
 * Finds out, once per process, which isolation works here: it really runs the sandbox's entry
 * script with a throw-away work dir and scene dir and checks that the scene dir is read-only,
 * the work dir writable and the network absent.
 */
export function probeIsolation(): Promise<IsolationReport> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<IsolationReport> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "tessellate-probe-")));
  try {
    const work = join(root, "work");
    const scene = join(root, "scene");
    await mkdir(work);
    await mkdir(scene);
    await writeFile(join(scene, "scene.txt"), "x");
    // Exit 0 only if the scene is readable but not writable, the work dir writable, the rest of
    // the file system read-only and no network interface but loopback exists.
    const check = [
      `cat "${scene}/scene.txt" >/dev/null`,
      `! (echo x >"${scene}/probe") 2>/dev/null`,
      `echo x >"${work}/probe"`,
      // The probe's own temp folder stands for "the rest of the file system": if the check
      // fails there, the stray file is removed with the folder.
      `! (echo x >"${root}/outside") 2>/dev/null`,
      // A fresh network namespace lists only its loopback interface (and leaves it down).
      `[ "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')" = "lo" ]`,
    ].join(" && ");
    const failures: string[] = [];
    for (const { mode, prefix } of MODES) {
      const [command, ...args] = [...prefix, "sh", ENTER_SCRIPT, work, "1", scene, "--", "sh", "-c", check];
      const failure = await new Promise<string | null>((done) => {
        execFile(command!, args, { env: { PATH: SAFE_PATH }, timeout: 10_000 }, (error, _stdout, stderr) =>
          done(error === null ? null : (stderr || error.message).trim().split("\n").at(-1) ?? "failed"),
        );
      });
      if (failure === null) return { mode, noNetwork: true, readOnlyFileSystem: true, pidNamespace: true };
      failures.push(`${mode}: ${failure}`);
    }
    return {
      mode: "none",
      noNetwork: false,
      readOnlyFileSystem: false,
      pidNamespace: false,
      warning:
        `engines run WITHOUT network, file-system and process isolation: unshare could not create namespaces ` +
        `(${failures.join("; ")}). Allow unprivileged user namespaces ` +
        `(sysctl kernel.unprivileged_userns_clone=1) or run the node as root to enable them.`,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Creates a private work dir (mode 0700), hands it to `fn`, and deletes it afterwards. */
export async function withWorkDir<T>(label: string, fn: (workDir: string) => Promise<T>): Promise<T> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), `tessellate-${label}-`)));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A runner with `runSandboxed`'s shape, so adapters can take a substitute in tests. */
export type SandboxRunner = (request: SandboxRequest) => Promise<SandboxResult>;

/** Runs `request.command` in the sandbox described at the top of this file. */
export async function runSandboxed(request: SandboxRequest): Promise<SandboxResult> {
  request.signal?.throwIfAborted();
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

  let isolationPrefix: string[] = [];
  if ((request.isolation ?? "auto") === "auto") {
    const isolation = await probeIsolation();
    const mode = MODES.find((candidate) => candidate.mode === isolation.mode);
    if (mode) {
      isolationPrefix = [...mode.prefix, "sh", ENTER_SCRIPT, workDir, String(readOnlyDirs.length), ...readOnlyDirs, "--"];
    } else if (!warned) {
      warned = true;
      (request.logger ?? defaultLogger).warn({ isolation }, isolation.warning ?? "engines run without isolation");
    }
  }

  const argv = [
    "prlimit",
    `--as=${Math.floor(request.memoryBytes)}`,
    "--core=0",
    `--nofile=${MAX_OPEN_FILES}`,
    "--",
    "nice",
    "-n",
    String(NICE_LEVEL),
    ...isolationPrefix,
    request.command,
    ...request.args,
  ];
  const env: Record<string, string> = {
    PATH: SAFE_PATH,
    HOME: workDir,
    TMPDIR: join(workDir, "tmp"),
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    OMP_NUM_THREADS: String(request.threads),
    ...request.env,
  };
  return run(argv, request.cwd ?? workDir, env, request, isolationPrefix.length > 0);
}

function run(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
  request: SandboxRequest,
  viaEnterScript: boolean,
): Promise<SandboxResult> {
  const started = performance.now();
  const tails = { stdout: new Tail(), stderr: new Tail(), both: new Tail() };
  const commandName = request.command;

  return new Promise<SandboxResult>((resolvePromise, rejectPromise) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
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
        request.onLine?.(line, stream);
      });
      child[stream].setEncoding("utf8");
      child[stream].on("data", (chunk: string) => splitter.write(chunk));
      child[stream].on("end", () => splitter.end());
    }

    let spawnError: Error | undefined;
    let settled = false;
    const finish = (exitCode: number | null, processSignal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      // Inside namespaces the engine is the child of enterSandbox.sh, which reports a death by
      // signal n as exit status 128 + n, as shells do.
      let signal: string | null = processSignal;
      if (viaEnterScript && exitCode !== null && exitCode > 128 && signalNames.has(exitCode - 128)) {
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
      const details = { exitCode, signal, lastLines };
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
          new EngineError("ENGINE_CRASHED", `${commandName} crashed (${signal})${describe(lastLines)}`, details),
        );
      } else if (exitCode !== 0) {
        rejectPromise(
          new EngineError("ENGINE_FAILED", `${commandName} exited with status ${exitCode}${describe(lastLines)}`, details),
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

function describe(lastLines: string[]): string {
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
