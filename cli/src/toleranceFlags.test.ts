/**
 * `job submit`'s verification flags through the real binary, refused before it reads the key,
 * uploads anything or touches a chain: a tolerance in exact mode, a tolerance beyond the
 * contract's maximum (MAX_TOLERANCE_BPS, generated from JobMarket.sol).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { jobMarketConstants } from "@tessellate/sdk/protocol";

const MAIN = join(import.meta.dirname, "main.ts");
const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");

function submit(...flags: string[]) {
  return spawnSync(process.execPath, [MAIN, "job", "submit", SCENE, "--reward", "1", "--size", "32x24", ...flags], {
    encoding: "utf8",
    // Nothing listens here: a command that tried to connect would fail with a network error instead.
    env: { ...process.env, TESSELLATE_RPC_URL: "http://127.0.0.1:9", TESSELLATE_IPFS_API_URL: "http://127.0.0.1:9" },
  });
}

describe("tessellate job submit --verification / --tolerance", () => {
  it("refuses a tolerance for an exact job (builtin's default), naming the flag and the fix", () => {
    const result = submit("--tolerance", "1000");
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--tolerance: applies only to tolerant verification, and this job is exact \(the default for builtin\) — leave --tolerance out, or add --verification tolerant/);
    assert.doesNotMatch(result.stderr, /ECONNREFUSED|fetch failed|upload/i);
  });

  it("refuses a tolerance above the contract's maximum", () => {
    const result = submit("--verification", "tolerant", "--tolerance", String(jobMarketConstants.MAX_TOLERANCE_BPS + 1));
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`--tolerance: must be an integer from 1 to ${jobMarketConstants.MAX_TOLERANCE_BPS} parts of 10,000`));
    assert.doesNotMatch(result.stderr, /ECONNREFUSED|fetch failed|upload/i);
  });
});
