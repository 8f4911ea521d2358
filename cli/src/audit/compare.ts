/**
 * The audit's comparison lives in the sdk (`@tessellate/sdk/protocol/compare`, shared with the
 * dApp's Audit page); the CLI writes amounts as tokens with their base units.
 */
import type { ProtocolState } from "@tessellate/sdk/protocol";
import { checkEvents as checkEventsIn, compareWithChain as compareWithChainIn, type ChainViews, type Discrepancy } from "@tessellate/sdk/protocol/compare";
import { formatTokens } from "../format.ts";
export { emptyViews, plannedReads, replicaKey, segmentKey, type ChainViews, type Discrepancy, type DiscrepancySource } from "@tessellate/sdk/protocol/compare";
export type { JobView, SegmentView, ReplicaView, ProviderView } from "@tessellate/sdk/market";

const formatAmount = (x: bigint) => `${formatTokens(x)} (${x} base units)`;

/** Inconsistencies within the events themselves. */
export function checkEvents(state: ProtocolState): Discrepancy[] {
  return checkEventsIn(state, { formatAmount });
}

/** The rebuilt state against the contracts' views and the token balances (see the sdk's `compareWithChain`). */
export function compareWithChain(state: ProtocolState, views: ChainViews, options: { complete?: boolean } = {}): Discrepancy[] {
  return compareWithChainIn(state, views, { ...options, formatAmount });
}
