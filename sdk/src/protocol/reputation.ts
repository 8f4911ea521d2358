/** The registry's reputation score (ProviderRegistry, basis points of `MAX_SCORE`). */
import { providerRegistryConstants } from "../contracts.generated.ts";

export interface ReputationCounters {
  accepted: number;
  rejected: number;
  expired: number;
  abandoned: number;
}

/** `(accepted + 2) × MAX_SCORE / (accepted + 4 + 4·rejected + 2·expired + abandoned)`, rounded down. */
export function reputationScore(c: ReputationCounters): number {
  const good = c.accepted + 2;
  const total = c.accepted + 4 + 4 * c.rejected + 2 * c.expired + c.abandoned;
  return Math.floor((good * providerRegistryConstants.MAX_SCORE) / total);
}
