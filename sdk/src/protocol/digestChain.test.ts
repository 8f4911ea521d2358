import assert from "node:assert/strict";
import { test } from "node:test";
import { keccak256, type Hex } from "viem";
import { segmentHeaderConstants } from "../contracts.generated.ts";
import { isLinkOf, linkZero, MAX_BLIND_ROUND, roundDigest } from "./digestChain.ts";

const pixels = "0x1111111111111111111111111111111111111111111111111111111111111111" as Hex;
const other = "0x2222222222222222222222222222222222222222222222222222222222222222" as Hex;

test("the chain's last round is the contract's (SegmentHeaderLib.MAX_ROUND); its link is the pixel digest", () => {
  assert.equal(MAX_BLIND_ROUND, segmentHeaderConstants.MAX_ROUND);
  assert.equal(roundDigest(pixels, MAX_BLIND_ROUND), pixels);
});

test("link k − 1 is keccak256(link k), and every round's link hashes down to the same link 0", () => {
  for (let k = 1; k <= MAX_BLIND_ROUND; k++) assert.equal(roundDigest(pixels, k - 1), keccak256(roundDigest(pixels, k)));
  const zero = roundDigest(pixels, 0);
  for (let k = 0; k <= MAX_BLIND_ROUND; k++) assert.equal(linkZero(roundDigest(pixels, k), k), zero);
});

test("a copied link revealed in a later round hashes to a seal nobody has", () => {
  const copied = roundDigest(pixels, 0);
  assert.notEqual(linkZero(copied, 1), roundDigest(pixels, 0));
});

test("isLinkOf: a result is checked against a digest of any round, never another image's", () => {
  for (let k = 0; k <= MAX_BLIND_ROUND; k++) assert.equal(isLinkOf(pixels, roundDigest(pixels, k).toUpperCase().replace("0X", "0x") as Hex), true);
  assert.equal(isLinkOf(other, roundDigest(pixels, 0)), false);
  assert.equal(isLinkOf(pixels, keccak256(roundDigest(pixels, 0))), false, "a link above link 0 is no link");
});

test("rounds outside 0..MAX_ROUND are refused", () => {
  assert.throws(() => roundDigest(pixels, MAX_BLIND_ROUND + 1), RangeError);
  assert.throws(() => linkZero(pixels, -1), RangeError);
});
