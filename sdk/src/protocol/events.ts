/** Chain order of events. */

export interface EventPosition {
  blockNumber: bigint;
  logIndex: number;
}

/** Compares two events by block, then by log index (chain order). */
export function compareEvents(a: EventPosition, b: EventPosition): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

/** Sorts events in place into chain order and returns them. */
export function sortEvents<T extends EventPosition>(events: T[]): T[] {
  return events.sort(compareEvents);
}
