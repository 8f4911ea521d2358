"use client";
/**
 * A provider's record from the registry's views (`providerOf`, `freeStake`, `reputation`), its
 * token and market balances, and from the event fold its earnings, slashes, reputation events
 * and held replicas (ProviderHistory.tsx); read-only for any address. For the connected account, the
 * actions: register or update the profile, approve + stake, request unstake (with the
 * unbonding countdown on the chain's clock), withdraw unbonded stake.
 */
import { useEffect, useState } from "react";
import { useAccount, useBlock } from "wagmi";
import type { Address } from "viem";
import { useReadMarket, useReadRegistry, useReadToken } from "../lib/contracts.ts";
import { formatAmount, formatBps, formatDuration } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { ProviderActions } from "./ProviderActions.tsx";
import { ProviderHistory } from "./ProviderHistory.tsx";
import { Stat } from "./Stat.tsx";

/** The chain's time now: the latest block's timestamp, advanced by the local clock between blocks. */
export function useChainNow(): number | undefined {
  const block = useBlock({ watch: true });
  const [seen, setSeen] = useState<{ timestamp: number; at: number } | undefined>(undefined);
  const [, tick] = useState(0);
  const timestamp = block.data ? Number(block.data.timestamp) : undefined;
  useEffect(() => {
    if (timestamp !== undefined) setSeen({ timestamp, at: Date.now() });
  }, [timestamp]);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 1_000);
    return () => clearInterval(timer);
  }, []);
  return seen ? seen.timestamp + Math.floor((Date.now() - seen.at) / 1_000) : undefined;
}

export function ProviderView({ address }: { address: Address }) {
  const { addresses } = useRuntimeConfig();
  const { symbol, decimals } = useToken();
  const account = useAccount();
  const registry = { address: addresses.registry } as const;
  const record = useReadRegistry({ ...registry, functionName: "providerOf", args: [address] });
  const free = useReadRegistry({ ...registry, functionName: "freeStake", args: [address] });
  const score = useReadRegistry({ ...registry, functionName: "reputation", args: [address] });
  const tokenBalance = useReadToken({ address: addresses.token, functionName: "balanceOf", args: [address] });
  const marketBalance = useReadMarket({ address: addresses.market, functionName: "balanceOf", args: [address] });
  const now = useChainNow();
  const own = account.status === "connected" && account.address.toLowerCase() === address.toLowerCase();
  const p = record.data;
  const amount = (value: bigint | undefined) => formatAmount(value, decimals, symbol);
  const unbondingLeft = p && p.unbonding > 0n && now !== undefined ? Number(p.unbondingReadyAt) - now : undefined;

  return (
    <>
      <section className="panel">
        <h2>
          Provider <code data-testid="provider-address">{address}</code>{" "}
          {p && (
            <span className={`badge ${p.registered ? "ok" : "warn"}`} data-testid="registered">
              {p.registered ? "registered" : "not registered"}
            </span>
          )}
        </h2>
        {record.error && <p className="tx tx-error">Could not read the registry: {record.error.message.split("\n")[0]}</p>}
        <dl className="stats">
          <Stat label="Staked" value={amount(p?.staked)} testId="staked" />
          <Stat label="Free stake" value={amount(free.data)} testId="free-stake" />
          <Stat label="Locked as collateral" value={amount(p?.locked)} testId="locked" />
          <Stat label="Unbonding" value={amount(p?.unbonding)} testId="unbonding" />
          <Stat
            label="Withdrawable from unbonding"
            testId="unbonding-ready"
            value={
              !p || p.unbonding === 0n
                ? "—"
                : unbondingLeft === undefined
                  ? "…"
                  : unbondingLeft > 0
                    ? `in ${formatDuration(unbondingLeft)}`
                    : "now"
            }
          />
          <Stat label="Wallet balance" value={amount(tokenBalance.data)} testId="token-balance" />
          <Stat label="Market balance (earned, not withdrawn)" value={amount(marketBalance.data)} testId="market-balance" />
        </dl>
      </section>
      <section className="panel">
        <h2>Reputation</h2>
        <dl className="stats">
          <Stat label="Score" value={formatBps(score.data)} testId="score" />
          <Stat label="Accepted replicas" value={p?.accepted ?? "…"} testId="accepted" />
          <Stat label="Rejected (out-voted)" value={p?.rejected ?? "…"} testId="rejected" />
          <Stat label="Expired leases" value={p?.expired ?? "…"} testId="expired" />
          <Stat label="Abandoned claims" value={p?.abandoned ?? "…"} testId="abandoned" />
        </dl>
      </section>
      <ProviderHistory address={address} now={now} />
      {own && p && <ProviderActions address={address} record={p} freeStake={free.data} tokenBalance={tokenBalance.data} unbondingLeft={unbondingLeft} />}
    </>
  );
}
