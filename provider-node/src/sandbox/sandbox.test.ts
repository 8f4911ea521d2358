import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import { FatalError } from "@tessellate/sdk/errors";
import { ENGINE_WORK_DIR } from "../main.ts";
import { createWorld, PROVIDER_A, startNode } from "../testing/harness.ts";
import { EngineError } from "./engineError.ts";
import { pidsCgroupParent } from "./pidsCgroup.ts";
import { NO_ISOLATION_WARNING, removeLeftoverWorkDirs, runSandboxed, withWorkDir, type EngineUsage, type SandboxRequest } from "./sandbox.ts";

const MiB = 1024 * 1024;
const quiet = { warn: () => {} };
const hasPython = existsSync("/usr/bin/python3");

/** Runs `fn` with a fresh work dir and a scene dir (holding `scene.txt`) next to it. */
function withDirs(fn: (base: Omit<SandboxRequest, "command" | "args">, sceneDir: string) => Promise<void>) {
  return withWorkDir("sandbox-test", async (root) => {
    const workDir = join(root, "work");
    const sceneDir = join(root, "scene");
    await mkdir(workDir);
    await mkdir(sceneDir);
    await writeFile(join(sceneDir, "scene.txt"), "scene\n");
    await fn({ readOnlyDirs: [sceneDir], workDir, threads: 1, memoryBytes: 1024 * MiB, timeoutMs: 10_000 }, sceneDir);
  });
}

async function rejection(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => assert.fail("expected the run to fail"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
  return error;
}

describe("runSandboxed", () => {
  test("returns the tails of a successful run", () =>
    withDirs(async (base) => {
      const result = await runSandboxed({ ...base, command: "sh", args: ["-c", "echo out; echo err >&2"] });
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdoutTail, "out");
      assert.equal(result.stderrTail, "err");
      assert.ok(result.durationMs >= 0);
    }));

  test("reports the CPU time of the engine and of the processes it started", () =>
    withDirs(async (base) => {
      const usages: EngineUsage[] = [];
      // The busy loop runs in a grandchild of the engine's shell: its CPU must be counted too.
      const loop = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done";
      const result = await runSandboxed({ ...base, command: "sh", args: ["-c", `sh -c '${loop}'; echo done`], onUsage: (usage) => usages.push(usage) });
      assert.equal(result.stdoutTail, "done");
      assert.ok(result.cpuSeconds !== undefined && result.cpuSeconds >= 0.05, `cpuSeconds ${result.cpuSeconds}`);
      assert.deepEqual(usages, [{ command: "sh", cpuSeconds: result.cpuSeconds, wallMs: result.durationMs }]);
      assert.deepEqual(await readdir(base.workDir), ["tmp"], "the times file is removed");
    }));

  test("kills a process that outlives its time limit, whole group included", () =>
    withDirs(async (base) => {
      const started = Date.now();
      const error = await rejection(
        runSandboxed({ ...base, timeoutMs: 300, command: "sh", args: ["-c", "sleep 30 & sleep 30"] }),
      );
      assert.equal(error.code, "RENDER_TIMEOUT");
      assert.equal(error.exitCode, null);
      assert.ok(error.signal === "SIGTERM" || error.signal === "SIGKILL", `signal ${error.signal}`);
      assert.ok(Date.now() - started < 5_000, "killed within the grace period");
    }));

  test("escalates to SIGKILL when the process ignores SIGTERM", () =>
    withDirs(async (base) => {
      const started = Date.now();
      const error = await rejection(
        runSandboxed({ ...base, timeoutMs: 300, command: "sh", args: ["-c", "trap '' TERM; sleep 30"] }),
      );
      assert.equal(error.code, "RENDER_TIMEOUT");
      assert.ok(Date.now() - started < 6_000);
    }));

  test("a non-zero exit carries the exit code and the last lines of output", () =>
    withDirs(async (base) => {
      const script = "for i in $(seq 1 50); do echo line $i; done; echo 'Parse Error: no camera' >&2; exit 3";
      const error = await rejection(runSandboxed({ ...base, command: "sh", args: ["-c", script] }));
      assert.equal(error.code, "ENGINE_FAILED");
      assert.equal(error.exitCode, 3);
      assert.equal(error.signal, null);
      assert.equal(error.lastLines.length, 20);
      assert.equal(error.lastLines.at(-1), "Parse Error: no camera");
      assert.equal(error.lastLines.at(-2), "line 50");
      assert.match(error.message, /exited with status 3: Parse Error: no camera/);
    }));

  test("a process ended by a signal is a crash", { skip: !hasPython && "needs /usr/bin/python3" }, () =>
    withDirs(async (base) => {
      const error = await rejection(
        runSandboxed({ ...base, command: "python3", args: ["-c", "import ctypes; ctypes.string_at(0)"] }),
      );
      assert.equal(error.code, "ENGINE_CRASHED");
      assert.equal(error.signal, "SIGSEGV");
      assert.equal(error.exitCode, null);
    }));

  test("the memory limit makes an over-allocating process fail", { skip: !hasPython && "needs /usr/bin/python3" }, () =>
    withDirs(async (base) => {
      const allocate = ["-c", "b = bytearray(512 * 1024 * 1024); print(len(b))"];
      const roomy = await runSandboxed({ ...base, memoryBytes: 2048 * MiB, command: "python3", args: allocate });
      assert.equal(roomy.stdoutTail, String(512 * MiB));
      const error = await rejection(runSandboxed({ ...base, memoryBytes: 256 * MiB, command: "python3", args: allocate }));
      assert.ok(error.code === "ENGINE_FAILED" || error.code === "ENGINE_CRASHED");
      assert.ok(error.lastLines.some((line) => line.includes("MemoryError")), error.lastLines.join("\n"));
    }));

  test("passes only the allow-listed environment and what the caller adds", () =>
    withDirs(async (base) => {
      process.env.TESSELLATE_TEST_SECRET = "0xprivate-key";
      try {
        const result = await runSandboxed({ ...base, env: { EXTRA: "given" }, command: "env", args: [] });
        const names = result.stdoutTail.split("\n").map((line) => line.split("=")[0]);
        assert.ok(!result.stdoutTail.includes("0xprivate-key"));
        assert.ok(names.includes("EXTRA"));
        assert.deepEqual(
          names.filter((name) => !["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "OMP_NUM_THREADS", "EXTRA", "PWD"].includes(name!)),
          [],
        );
        assert.match(result.stdoutTail, new RegExp(`^HOME=${base.workDir}$`, "m"));
      } finally {
        delete process.env.TESSELLATE_TEST_SECRET;
      }
    }));

  test("splits progress lines on carriage returns", () =>
    withDirs(async (base) => {
      const lines: string[] = [];
      await runSandboxed({
        ...base,
        command: "printf",
        args: ["Rendered 1 of 4 pixels\\rRendered 4 of 4 pixels\\ndone\\n"],
        onLine: (line) => lines.push(line),
      });
      assert.deepEqual(lines, ["Rendered 1 of 4 pixels", "Rendered 4 of 4 pixels", "done"]);
    }));

  test("aborting kills the process and rejects with the abort reason", () =>
    withDirs(async (base) => {
      const controller = new AbortController();
      const running = runSandboxed({ ...base, signal: controller.signal, command: "sleep", args: ["30"] });
      setTimeout(() => controller.abort(new Error("segment lease lost")), 200);
      await assert.rejects(running, /segment lease lost/);
    }));

  test("a command that does not exist is an engine failure", () =>
    withDirs(async (base) => {
      const error = await rejection(runSandboxed({ ...base, command: "no-such-engine-binary", args: [] }));
      assert.equal(error.code, "ENGINE_FAILED");
    }));
});

describe("runSandboxed isolation", () => {
  test("the scene dir is read-only, the work dir writable, and /tmp private", () =>
    withDirs(async (base, sceneDir) => {
      const script = [
        `cat "${sceneDir}/scene.txt"`,
        `(echo x > "${sceneDir}/scene.txt") 2>/dev/null && echo scene-written`,
        `(echo x > "${sceneDir}/new.txt") 2>/dev/null && echo scene-created`,
        `echo x > /tmp/tessellate-escape.txt && echo private-tmp-written`,
        `echo result > "$HOME/out.txt" && echo work-written`,
        `(mount -o remount,rw "${sceneDir}") 2>/dev/null && echo remounted`,
        "true",
      ].join("; ");
      const result = await runSandboxed({ ...base, command: "sh", args: ["-c", script] });
      assert.equal(result.stdoutTail, "scene\nprivate-tmp-written\nwork-written");
      assert.equal(await readFile(join(sceneDir, "scene.txt"), "utf8"), "scene\n");
      assert.equal(existsSync("/tmp/tessellate-escape.txt"), false);
      assert.equal(await readFile(join(base.workDir, "out.txt"), "utf8"), "result\n");
    }));

  test("the network namespace blocks even a loopback connection", async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
    const port = (server.address() as { port: number }).port;
    const connect = ["-c", `echo hello > /dev/tcp/127.0.0.1/${port}`];
    try {
      await withDirs(async (base) => {
        // Control: the same attempt without isolation reaches the server.
        await runSandboxed({ ...base, isolation: "none", logger: quiet, command: "bash", args: connect });
        const error = await rejection(runSandboxed({ ...base, command: "bash", args: connect }));
        assert.equal(error.code, "ENGINE_FAILED");
        assert.ok(error.lastLines.some((line) => /Network is unreachable|Connection refused/.test(line)), error.lastLines.join("\n"));
      });
    } finally {
      server.close();
    }
  });

  test("the engine cannot read the node's environment through /proc", () =>
    withDirs(async (base) => {
      process.env.TESSELLATE_TEST_SECRET = "0xprivate-key";
      try {
        const script = `cat /proc/${process.pid}/environ 2>/dev/null | tr '\\0' '\\n'; ls /proc | grep -c '^[0-9]'`;
        const result = await runSandboxed({ ...base, command: "sh", args: ["-c", script] });
        assert.ok(!result.stdoutTail.includes("0xprivate-key"));
        const visibleProcesses = Number(result.stdoutTail.split("\n").at(-1));
        assert.ok(visibleProcesses <= 5, `sees ${visibleProcesses} processes`);
      } finally {
        delete process.env.TESSELLATE_TEST_SECRET;
      }
    }));
});

/** Host pids of the processes whose command line contains `marker`. */
async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(marker)) pids.push(Number(name));
  }
  return pids;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting until ${what}`);
    await delay(50);
  }
}

describe("runSandboxed: what the engine can see", () => {
  test("nothing of the host but the engine's installation, the scene and its own work folder", () =>
    withWorkDir("sandbox-view", async (root) => {
      // A provider's data folder, with its key, another job's scene and this job's scene next to the work dir.
      const dataDir = join(root, "data");
      const sceneDir = join(dataDir, "scenes", "job");
      const otherScene = join(dataDir, "scenes", "other");
      const workDir = join(root, "work");
      for (const dir of [sceneDir, otherScene, workDir]) await mkdir(dir, { recursive: true });
      await writeFile(join(dataDir, "provider.key"), "0xprivate-key\n");
      await writeFile(join(otherScene, "scene.pov"), "other\n");
      await writeFile(join(sceneDir, "scene.pov"), "mine\n");
      const hostTmp = await mkdtemp(join(tmpdir(), "tessellate-host-secret-"));
      await writeFile(join(hostTmp, "secret.txt"), "host tmp\n");
      const probes = [
        join(dataDir, "provider.key"),
        join(dataDir, "provider.sqlite"),
        join(otherScene, "scene.pov"),
        join(hostTmp, "secret.txt"),
        "/etc/passwd",
        "/etc/shadow",
        "/etc/hostname",
        "/root",
        "/home",
        "/var",
        "/opt",
        "/run",
        "/sys",
        fileURLToPath(import.meta.url),
        process.cwd(),
      ];
      const script = [
        "id -u; id -g",
        "ls -A /",
        "ls -A /etc",
        ...probes.map((path) => `[ -e '${path}' ] && echo 'present ${path}'`),
        `cat '${join(dataDir, "provider.key")}' 2>/dev/null`,
        `cat '${join(sceneDir, "scene.pov")}'`,
        `echo written > '${workDir}/out.txt' && echo work-writable`,
        "true",
      ].join("; ");
      try {
        const result = await runSandboxed({
          command: "sh",
          args: ["-c", script],
          readOnlyDirs: [sceneDir],
          workDir,
          threads: 1,
          memoryBytes: 1024 * MiB,
          timeoutMs: 10_000,
        });
        const lines = result.stdoutTail.split("\n");
        assert.deepEqual(lines.slice(0, 2), ["65534", "65534"]);
        assert.deepEqual(lines.slice(2, 11), ["bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp", "usr"]);
        assert.deepEqual(lines.slice(11, 13), ["alternatives", "ld.so.cache"]);
        assert.deepEqual(lines.slice(13), ["mine", "work-writable"]);
        assert.ok(!result.stdoutTail.includes("0xprivate-key"));
      } finally {
        await rm(hostTmp, { recursive: true, force: true });
      }
    }));

  test("a run may not start more processes than its cap", () =>
    withDirs(async (base) => {
      const forkMany = ["-c", "for i in $(seq 1 40); do sleep 1 & done; echo started; wait"];
      const roomy = await runSandboxed({ ...base, maxTasks: 100, command: "sh", args: forkMany });
      assert.equal(roomy.stdoutTail, "started");
      const error = await rejection(runSandboxed({ ...base, maxTasks: 16, command: "sh", args: forkMany }));
      assert.equal(error.code, "ENGINE_FAILED");
      assert.ok(error.lastLines.some((line) => /Cannot fork|Resource temporarily unavailable/.test(line)), error.lastLines.join("\n"));
    }));

  test("at the time limit nothing the engine started keeps running", () =>
    withDirs(async (base) => {
      const marker = `${process.pid}${Date.now() % 100_000}`;
      const error = await rejection(
        runSandboxed({ ...base, timeoutMs: 500, command: "sh", args: ["-c", `sleep 1${marker} & sleep 2${marker} & wait`] }),
      );
      assert.equal(error.code, "RENDER_TIMEOUT");
      await waitFor("the engine's processes are gone", async () => (await processesWith(marker)).length === 0, 3_000);
    }));
});

describe("runSandboxed: when bubblewrap cannot start", () => {
  test("a missing bwrap fails the run with a FatalError saying how to install it or opt out", () =>
    withDirs(async (base) => {
      const error = await runSandboxed({ ...base, bwrap: "/nonexistent/bwrap", command: "true", args: [] }).then(
        () => assert.fail("ran without a sandbox"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof FatalError && !(error instanceof EngineError), String(error));
      assert.equal(error.code, "SANDBOX_UNAVAILABLE");
      assert.match(error.message, /\/nonexistent\/bwrap cannot be run/);
      assert.match(error.message, /apt-get install bubblewrap/);
      assert.match(error.message, /TESSELLATE_SANDBOX_ISOLATION=none/);
    }));

  test("a bwrap that cannot create the sandbox fails the run, naming the kernel settings", () =>
    withDirs(async (base) => {
      const error = await runSandboxed({ ...base, bwrap: "/bin/false", command: "true", args: [] }).then(
        () => assert.fail("ran without a sandbox"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof FatalError);
      assert.equal(error.code, "SANDBOX_UNAVAILABLE");
      assert.match(error.message, /could not create one/);
      assert.match(error.message, /user namespaces/);
    }));

  test("a bwrap older than 0.7 (no --size) fails the run, asking for a newer one", () =>
    withDirs(async (base) => {
      const oldBwrap = join(base.workDir, "..", "bwrap-0.4");
      await writeFile(oldBwrap, '#!/bin/sh\necho "bwrap: Unknown option --size" >&2\nexit 1\n', { mode: 0o755 });
      const error = await runSandboxed({ ...base, bwrap: oldBwrap, command: "true", args: [] }).then(
        () => assert.fail("ran without a sandbox"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof FatalError);
      assert.equal(error.code, "SANDBOX_UNAVAILABLE");
      assert.match(error.message, /is too old .* install bubblewrap 0\.7 or later/);
    }));

  test('isolation "none" runs without bubblewrap and warns on every run', () =>
    withDirs(async (base) => {
      const warnings: string[] = [];
      const logger = { warn: (_details: object, message: string) => warnings.push(message) };
      for (let run = 0; run < 2; run++) {
        const result = await runSandboxed({ ...base, isolation: "none", bwrap: "/nonexistent/bwrap", logger, command: "sh", args: ["-c", "id -u"] });
        assert.equal(result.stdoutTail, String(process.getuid!()));
      }
      assert.equal(warnings.filter((message) => message === NO_ISOLATION_WARNING).length, 2);
      assert.match(NO_ISOLATION_WARNING, /WITHOUT isolation/);
    }));
});

describe("engines die with the node", () => {
  test("a node killed with SIGKILL leaves no engine running; its work folder and cgroup are removed at the next start", async () => {
    const root = await mkdtemp(join(tmpdir(), "tessellate-killed-node-"));
    try {
      const sceneDir = join(root, "scene-of-the-killed-node");
      const workRoot = join(root, "engine-work");
      await mkdir(sceneDir);
      const endless = fileURLToPath(new URL("../engines/fixtures/povray/endless/scene.pov", import.meta.url));
      await copyFile(endless, join(sceneDir, "scene.pov"));
      // (This process looks for orphaned cgroups now, before there is one.)
      const cgroups = await pidsCgroupParent();
      const node = spawn(process.execPath, [fileURLToPath(new URL("./fixtures/renderUntilKilled.ts", import.meta.url)), sceneDir, workRoot], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = new Promise((done) => node.on("exit", done));
      try {
        await waitFor("povray renders", async () => (await processesWith(`+I${sceneDir}`)).some((pid) => isPovray(pid)), 30_000);
      } finally {
        node.kill("SIGKILL");
        await exited;
      }
      await waitFor("no process of the render is left", async () => (await processesWith(sceneDir)).length === 0, 5_000);
      assert.equal((await readdir(workRoot)).length, 1, "the killed render left its work folder");
      assert.equal((await removeLeftoverWorkDirs(workRoot)).length, 1);
      assert.deepEqual(await readdir(workRoot), []);
      // Its pids cgroup, where there is one, is removed by the next process that runs engines.
      if ("dir" in cgroups) {
        const orphans = async () => (await readdir(cgroups.dir)).filter((name) => name.startsWith(`tessellate-engine-${node.pid}-`));
        assert.equal((await orphans()).length, 1, "the killed node left its cgroup");
        const sandbox = fileURLToPath(new URL("./sandbox.ts", import.meta.url));
        await promisify(execFile)(process.execPath, ["--input-type=module", "-e", `await (await import(${JSON.stringify(sandbox)})).checkSandbox();`]);
        assert.deepEqual(await orphans(), []);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("a provider node at start", () => {
  test("removes the engine work folders a killed run left in its data dir", async () => {
    const world = await createWorld();
    try {
      const leftover = join(world.dir, "node-a", ENGINE_WORK_DIR, "povray-AbC123");
      await mkdir(join(leftover, "tmp"), { recursive: true });
      await writeFile(join(leftover, "render.png"), "half a frame");
      const kept = join(world.dir, "node-a", "kept.txt");
      await writeFile(kept, "not an engine's");
      await startNode(world, PROVIDER_A, { name: "node-a" });
      assert.deepEqual(await readdir(join(world.dir, "node-a", ENGINE_WORK_DIR)), []);
      assert.equal(await readFile(kept, "utf8"), "not an engine's");
    } finally {
      await world.cleanup();
    }
  });
});

function isPovray(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "povray";
  } catch {
    return false;
  }
}
