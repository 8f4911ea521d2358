import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { EngineError } from "./engineError.ts";
import { runSandboxed, withWorkDir, type SandboxRequest } from "./sandbox.ts";

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
