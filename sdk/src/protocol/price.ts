/**
 * What things cost, computed as the contracts compute them (integer basis points, rounded down).
 */
import type { Hex } from "viem";
import { jobMarketConstants } from "../contracts.generated.ts";

const BPS = BigInt(jobMarketConstants.BPS);

/** What one replica escrows: reward plus the protocol fee on it (rounded down like the contract). */
export function unitPrice(rewardPerReplica: bigint, feeBps: number): bigint {
  return rewardPerReplica + (rewardPerReplica * BigInt(feeBps)) / BPS;
}

/** Units escrowed per segment: one per replica, plus the auditor's in an audited job (`auditBps` > 0). */
export function unitsPerSegment(params: { redundancy: number; auditBps?: number }): number {
  return params.redundancy + ((params.auditBps ?? 0) > 0 ? 1 : 0);
}

/** What `createJob` pulls into escrow: segments × units per segment × (reward + fee). */
export function jobEscrow(params: { segmentCount: number; redundancy: number; rewardPerReplica: bigint; auditBps?: number }, feeBps: number): bigint {
  return BigInt(params.segmentCount) * BigInt(unitsPerSegment(params)) * unitPrice(params.rewardPerReplica, feeBps);
}

/** The keeper's share of seized collateral for expiring `slots` replicas (JobMarket.KEEPER_FEE_BPS). */
export function keeperFee(collateralPerReplica: bigint, slots = 1): bigint {
  return (collateralPerReplica * BigInt(slots) * BigInt(jobMarketConstants.KEEPER_FEE_BPS)) / BPS;
}

/** First 160 bits of a bytes32, as the contract stores seals (lower-case hex). */
export function sealOf(value: Hex): Hex {
  return value.slice(0, 42).toLowerCase() as Hex;
}
