import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FatalError } from "@tessellate/sdk/errors";
import { LOCK_FILE, lockDataDir } from "./dataDirLock.ts";

const LOCK_MODULE = join(import.meta.dirname, "dataDirLock.ts");

/** A separate node process that takes the lock of `dir`, says "locked" and waits to be killed. */
async function holdInOtherProcess(dir: string) {
  const child = spawn(process.execPath, ["--no-warnings", "--input-type=module", "-e", `const { lockDataDir } = await import(${JSON.stringify(LOCK_MODULE)}); lockDataDir(${JSON.stringify(dir)}); console.log("locked"); setInterval(() => {}, 1000);`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk) => String(chunk).includes("locked") && resolve());
    child.once("exit", (code) => reject(new Error(`the lock holder exited early (code ${code})`)));
  });
  return child;
}

test("a second node on one data dir is refused, naming the process that holds it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-lock-"));
  const holder = await holdInOtherProcess(dir);
  try {
    assert.throws(
      () => lockDataDir(dir),
      (e: unknown) => e instanceof FatalError && e.code === "DATA_DIR_LOCKED" && e.message.includes(`is in use by process ${holder.pid}`) && e.message.includes(join(dir, LOCK_FILE)),
    );
  } finally {
    const exited = new Promise((r) => holder.once("exit", r));
    holder.kill("SIGKILL");
    await exited;
  }
  // The holder was killed without releasing: its lock is stale and is taken over.
  const lock = lockDataDir(dir);
  assert.equal(lock.replacedStalePid, holder.pid);
  assert.equal(JSON.parse(readFileSync(lock.path, "utf8")).pid, process.pid);
  lock.release();
  assert.equal(existsSync(lock.path), false, "release removes the lock file");
  await rm(dir, { recursive: true, force: true });
});

test("within one process, a held data dir is refused until it is released", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-lock-"));
  const lock = lockDataDir(dir);
  assert.equal(lock.replacedStalePid, undefined);
  assert.throws(() => lockDataDir(dir), (e: unknown) => e instanceof FatalError && e.code === "DATA_DIR_LOCKED");
  lock.release();
  lockDataDir(dir).release();
  await rm(dir, { recursive: true, force: true });
});
