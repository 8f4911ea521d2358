/**
 * The protocol's read model, in one place and browser-safe (no `node:` import here): the
 * generated constants and enums of the contracts, slot packing, prices, the reputation score,
 * the closable / expirable / claimable rules, the one event fold, the views it implies and
 * the audit's comparison of them with the contracts' views.
 */
export {
  AbandonReason,
  AbandonReasonNames,
  CreditKind,
  CreditKindNames,
  JobStatus,
  JobStatusNames,
  ReplicaState,
  ReplicaStateNames,
  SegmentStatus,
  SegmentStatusNames,
  Verification,
  VerificationNames,
  fingerprintConstants,
  jobMarketConstants,
  providerRegistryConstants,
  segmentHeaderConstants,
} from "../contracts.generated.ts";
export * from "./slots.ts";
export * from "./price.ts";
export * from "./reputation.ts";
export * from "./events.ts";
export * from "./predicates.ts";
export * from "./fold.ts";
export * from "./digestChain.ts";
export * from "./views.ts";
export * from "./compare.ts";
export * from "./commitments.ts";
export * from "./reveals.ts";
