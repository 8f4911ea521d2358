/**
 * Writes JobMarket's claim bitmaps directly (Hardhat's `setStorageAt`), so that a benchmark or a
 * test can stand a large job in the state "every segment closed but these" without claiming a
 * million slots. The slots follow JobMarket's storage order: Ownable's owner (0), Ownable2Step's
 * pending owner (1), then JobMarket's own variables in declaration order (immutables and the
 * transient reentrancy guard take none). A wrong slot shows: the claim that follows lands on
 * another segment, which callers check.
 */
import { AbiCoder, keccak256 } from "ethers";

export const CLOSED_BITS_SLOT = 7n;
export const FULL_WORDS_SLOT = 8n;
export const FULL_GROUPS_SLOT = 9n;
const ALL = (1n << 256n) - 1n;

interface StorageHelpers {
  setStorageAt(address: string, index: bigint, value: bigint): Promise<void>;
}

/** Storage slot of `mapping(uint256 => ...)` at slot `base`, key `key`. */
export function mappingSlot(key: bigint, base: bigint): bigint {
  return BigInt(keccak256(AbiCoder.defaultAbiCoder().encode(["uint256", "uint256"], [key, base])));
}

/** The three slots that hold job `jobId`'s bitmap word `word`, its group word and its top word. */
export function bitmapSlots(jobId: bigint, word: number) {
  return {
    closed: mappingSlot(BigInt(word), mappingSlot(jobId, CLOSED_BITS_SLOT)),
    fullWords: mappingSlot(BigInt(word >> 8), mappingSlot(jobId, FULL_WORDS_SLOT)),
    fullGroups: mappingSlot(jobId, FULL_GROUPS_SLOT),
  };
}

/** Marks every segment of job `jobId` (of `segments`) closed except those in `open`. */
export async function closeAllBut(helpers: StorageHelpers, market: string, jobId: bigint, segments: number, open: number[]) {
  const words = Math.ceil(segments / 256);
  const fullWords = new Map<number, bigint>();
  let fullGroups = 0n;
  for (let w = 0; w < words; w++) {
    const valid = Math.min(256, segments - w * 256);
    let bits = valid === 256 ? ALL : (1n << BigInt(valid)) - 1n;
    for (const s of open) if (s >> 8 === w) bits &= ~(1n << BigInt(s & 255));
    await helpers.setStorageAt(market, bitmapSlots(jobId, w).closed, bits);
    if (bits === ALL) fullWords.set(w >> 8, (fullWords.get(w >> 8) ?? 0n) | (1n << BigInt(w & 255)));
  }
  for (const [group, bits] of fullWords) {
    await helpers.setStorageAt(market, bitmapSlots(jobId, group << 8).fullWords, bits);
    if (bits === ALL) fullGroups |= 1n << BigInt(group);
  }
  await helpers.setStorageAt(market, bitmapSlots(jobId, 0).fullGroups, fullGroups);
}
