/**
 * `job submit --verification tolerant` is refused by the real binary before it reads the key,
 * uploads anything or touches a chain: the contracts do not settle tolerant jobs yet (issue 12
 * item 5), so posting one would only lock the escrow until its deadline.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";

const MAIN = join(import.meta.dirname, "main.ts");
const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");

describe("tessellate job submit --verification tolerant", () => {
  it("exits 2 naming the flag and the fix, without contacting the chain or IPFS", () => {
    const result = spawnSync(process.execPath, [MAIN, "job", "submit", SCENE, "--verification", "tolerant", "--reward", "1"], {
      encoding: "utf8",
      // Nothing listens here: a command that tried to connect would fail with a network error instead.
      env: { ...process.env, TESSELLATE_RPC_URL: "http://127.0.0.1:9", TESSELLATE_IPFS_API_URL: "http://127.0.0.1:9" },
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--verification: tolerant verification is not settled by the contracts yet/);
    assert.match(result.stderr, /use exact verification/);
    assert.doesNotMatch(result.stderr, /ECONNREFUSED|fetch failed|upload/i);
  });
});
