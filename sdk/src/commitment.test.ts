import assert from "node:assert/strict";
import { test } from "node:test";
import { commitmentOf, randomSalt } from "./commitment.ts";

const digest = `0x${"11".repeat(32)}` as const;
const salt = `0x${"22".repeat(32)}` as const;
const provider = "0x00000000000000000000000000000000000000aa" as const;

test("commitment matches the Solidity encoding (known answer)", () => {
  // keccak256(abi.encode(bytes32 0x11.., bytes32 0x22.., address 0xaa, uint256 7, uint32 3)), computed with ethers.
  assert.equal(
    commitmentOf(digest, salt, provider, 7n, 3),
    "0x334fd705072523086f30699a6e4dd61c777b40f1de02dc070d1918b2a7a15363",
  );
});

test("commitment binds provider, job and segment", () => {
  const base = commitmentOf(digest, salt, provider, 7n, 3);
  assert.notEqual(commitmentOf(digest, salt, "0x00000000000000000000000000000000000000bb", 7n, 3), base);
  assert.notEqual(commitmentOf(digest, salt, provider, 8n, 3), base);
  assert.notEqual(commitmentOf(digest, salt, provider, 7n, 4), base);
});

test("random salts are 32 bytes and differ", () => {
  const a = randomSalt();
  assert.match(a, /^0x[0-9a-f]{64}$/);
  assert.notEqual(a, randomSalt());
});
