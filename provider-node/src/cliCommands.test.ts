import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { FatalError } from "@tessellate/sdk/errors";
import { parseAmount } from "./cliCommands.ts";

const run = promisify(execFile);
const CLI = new URL("./cli.ts", import.meta.url).pathname;

test("amounts are tokens with up to 18 decimals", () => {
  assert.equal(parseAmount("100"), 100n * 10n ** 18n);
  assert.equal(parseAmount("2.5"), 25n * 10n ** 17n);
  assert.throws(() => parseAmount("1e3"), (e: unknown) => e instanceof FatalError && /write it in tokens with up to 18 decimals/.test(e.message));
  assert.throws(() => parseAmount("0"), /more than 0/);
});

test("`config` prints the resolved configuration without secrets; a bad value exits 2 naming the field", async () => {
  const env = { ...process.env, TESSELLATE_API_TOKEN: "a-secret-token-0123456789", TESSELLATE_PRIVATE_KEY: `0x${"11".repeat(32)}` };
  const { stdout, stderr } = await run(process.execPath, [CLI, "config", "--cpu-threads", "3", "--data-dir", "/tmp/tessellate-cli-test"], { env });
  const config = JSON.parse(stdout);
  assert.equal(config.limits.cpuThreads, 3);
  assert.equal(config.dataDir, "/tmp/tessellate-cli-test");
  assert.equal(config.http.apiToken, "<redacted>");
  assert.ok(!stdout.includes("a-secret-token") && !stdout.includes("1111111111"), "no secret printed");
  assert.equal(stderr, "", "no experimental-feature noise");
  await assert.rejects(run(process.execPath, [CLI, "config", "--http-port", "http"], { env }), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 2);
    assert.match(error.stderr, /http\.port = "http" \(from flag --http-port\): must be a whole number/);
    return true;
  });
});
