/**
 * The digest chain of blind rounds (IJobMarket.reveal, Exact jobs).
 *
 * A replica revealing in round k of its segment reveals link k of a hash chain over its pixels:
 * link MAX_ROUND is the pixel digest, link k−1 = keccak256(link k). The market hashes a revealed
 * link down to link 0 and stores that as the seal, so replicas of every round compare as before.
 * A slot that opens after a replica revealed in the current round starts the next round: its new
 * holder must reveal a deeper link, which nobody can derive from a revealed one — only from the
 * pixels. Round 0 is every segment's round unless a tie-breaker or a missed reveal reopened it.
 */
import { keccak256, type Hex } from "viem";
import { segmentHeaderConstants } from "../contracts.generated.ts";

/** Last blind round a segment can reach (SegmentHeaderLib.MAX_ROUND); its link is the pixel digest. */
export const MAX_BLIND_ROUND: number = segmentHeaderConstants.MAX_ROUND;

function checkRound(round: number): void {
  if (!Number.isInteger(round) || round < 0 || round > MAX_BLIND_ROUND) {
    throw new RangeError(`a blind round is an integer from 0 to ${MAX_BLIND_ROUND}, got ${round}`);
  }
}

/** Link `round` of the chain above `link`, which is link `from` (keccak256 applied from − round times). */
function hashDown(link: Hex, from: number, round: number): Hex {
  let value = link.toLowerCase() as Hex;
  for (let k = from; k > round; k--) value = keccak256(value);
  return value;
}

/** What a replica reveals in `round`: link `round` of the chain of its pixel digest. */
export function roundDigest(pixelDigest: Hex, round: number): Hex {
  checkRound(round);
  return hashDown(pixelDigest, MAX_BLIND_ROUND, round);
}

/** A digest revealed in `round`, hashed down to link 0: what the market compares and stores as the seal. */
export function linkZero(revealed: Hex, round: number): Hex {
  checkRound(round);
  return hashDown(revealed, round, 0);
}

/**
 * True when `revealed` is a link (of any round) of the chain of `pixelDigest`: how a result
 * downloaded from IPFS is checked against the digest its replica revealed, whatever round that was.
 */
export function isLinkOf(pixelDigest: Hex, revealed: Hex): boolean {
  const wanted = revealed.toLowerCase();
  let value = pixelDigest.toLowerCase() as Hex;
  for (let round = MAX_BLIND_ROUND; round >= 0; round--) {
    if (value === wanted) return true;
    if (round > 0) value = keccak256(value);
  }
  return false;
}
