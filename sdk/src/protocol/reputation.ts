/** The registry's reputation score (ProviderRegistry, basis points of `MAX_SCORE`). */
import { AbandonReason, providerRegistryConstants } from "../contracts.generated.ts";

export interface ReputationCounters {
  accepted: number;
  rejected: number;
  expired: number;
  abandoned: number;
}

/**
 * `(accepted + 2) × MAX_SCORE / (accepted + 4 + 4·rejected + 2·expired + abandoned)`, rounded down.
 * `accepted` counts credited acceptances only ({@link earnsCredit}); `abandoned` does not count
 * give-backs for a scene fault.
 */
export function reputationScore(c: ReputationCounters): number {
  const good = c.accepted + 2;
  const total = c.accepted + 4 + 4 * c.rejected + 2 * c.expired + c.abandoned;
  return Math.floor((good * providerRegistryConstants.MAX_SCORE) / total);
}

/**
 * Whether an accepted replica earns reputation (JobMarket._earnsCredit): not on a job its
 * provider posted itself, and only for a reward of at least the market's `minCreditReward`
 * (announced at deployment by `CreditRuleSet`; 0 when unknown). Farming a score through a
 * second address as requester therefore costs the protocol fee on at least that reward per
 * credited replica: 16 of them take a newcomer from 5000 to 9000.
 */
export function earnsCredit(job: { requester: string; params: { rewardPerReplica: bigint } }, provider: string, minCreditReward: bigint): boolean {
  return job.requester.toLowerCase() !== provider.toLowerCase() && job.params.rewardPerReplica >= minCreditReward;
}

/** Whether a give-back counts as `abandoned` in the score: not when the scene is at fault (JobMarket.abandon). */
export function countsAsAbandoned(reason: number): boolean {
  return reason !== AbandonReason.SceneFault;
}
