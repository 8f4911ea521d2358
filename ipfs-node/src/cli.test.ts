import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

test("the CLI prints its URLs, serves, and stops cleanly on SIGTERM", async () => {
  const repo = await mkdtemp(join(tmpdir(), "tessellate-ipfs-cli-"));
  const child = spawn(process.execPath, [join(import.meta.dirname, "cli.ts"), "--repo", repo, "--api-port", "0", "--gateway-port", "0", "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    let stdout = "";
    child.stdout.setEncoding("utf8");
    while (!stdout.includes("Repo")) {
      const [chunk] = (await Promise.race([once(child.stdout, "data"), once(child, "exit").then(() => assert.fail("the CLI exited early"))])) as [string];
      stdout += chunk;
    }
    const apiUrl = /IPFS RPC API +(\S+)/.exec(stdout)?.[1];
    const gatewayUrl = /IPFS gateway +(\S+)\/ipfs/.exec(stdout)?.[1];
    assert.ok(apiUrl !== undefined && gatewayUrl !== undefined, stdout);
    const version = await fetch(`${apiUrl}/api/v0/version`, { method: "POST" });
    assert.equal(version.status, 200);
    assert.equal((await fetch(`${gatewayUrl}/`)).status, 200);

    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    await assert.rejects(access(join(repo, "repo.lock")), "the repo lock is released");
  } finally {
    child.kill("SIGKILL");
    await rm(repo, { recursive: true, force: true });
  }
});
