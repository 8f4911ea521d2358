/**
 * `tessellate withdraw`: pays out the account's internal market balance (refunds, compensation,
 * rewards) in one token transfer.
 */
import type { Hash } from "viem";
import { FatalError } from "@tessellate/sdk/errors";
import type { MarketClient } from "@tessellate/sdk/market";
import { formatTokens } from "../format.ts";
import { silentOutput, type Output } from "../output.ts";

export async function withdrawBalance(deps: { market: MarketClient; output?: Output }): Promise<{ amount: bigint; hash?: Hash }> {
  const { market } = deps;
  const out = deps.output ?? silentOutput;
  const me = market.account;
  if (!me) throw new FatalError("CHAIN_NO_ACCOUNT", "withdraw sends a transaction: configure a key");
  const amount = await market.marketBalanceOf(me);
  if (amount === 0n) {
    out.print(`${me} has nothing to withdraw from the market`);
    return { amount };
  }
  const outcome = await market.withdraw();
  out.print(`withdrew ${formatTokens(amount)} to ${me} (tx ${outcome.hash})`);
  return { amount, hash: outcome.hash };
}
