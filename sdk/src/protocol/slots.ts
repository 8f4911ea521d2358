/**
 * Slot packing of the batched events (`ReplicasClaimed`, `ReplicasCommitted`, `ReplicasRevealed`):
 * each slot is `segment << 8 | replica` (JobMarket packs them so; a segment holds fewer than
 * 256 slots, see `segmentHeaderConstants.MAX_SLOTS`).
 */

/** A replica slot: which segment, which of its replicas. */
export interface SlotRef {
  segment: number;
  replica: number;
}

export function packSlot(segment: number, replica: number): bigint {
  return (BigInt(segment) << 8n) | BigInt(replica);
}

export function unpackSlot(packed: bigint | number): SlotRef {
  const v = BigInt(packed);
  return { segment: Number(v >> 8n), replica: Number(v & 0xffn) };
}

export function unpackSlots(packed: readonly (bigint | number)[]): SlotRef[] {
  return packed.map(unpackSlot);
}
