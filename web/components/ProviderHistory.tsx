"use client";
/**
 * What a provider's history says, from the sdk's fold of every event (lib/useProtocolState.ts):
 * its earnings by kind (`Credited`), what it withdrew and what was slashed (`StakeSlashed`), each
 * reputation counter with the events behind it, and the replicas it holds now. For the connected
 * provider, withdrawing its market balance.
 */
import { useMemo } from "react";
import Link from "next/link";
import { useAccount, useConfig } from "wagmi";
import { simulateContract } from "wagmi/actions";
import { getAddress, type Address } from "viem";
import { CreditKindNames, ReplicaStateNames, SegmentStatus, countsAsAbandoned, earnsCredit, isHeld, type FoldEvent, type ProtocolState } from "@tessellate/sdk";
import { jobMarketAbi, useReadMarket } from "../lib/contracts.ts";
import { formatAmount, formatDuration } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useProtocolState } from "../lib/useProtocolState.ts";
import { useTransaction } from "../lib/useTransaction.ts";
import { TxStatus } from "./TxStatus.tsx";
import { Stat } from "./Stat.tsx";
import { Table } from "./Table.tsx";

type Counter = "accepted" | "rejected" | "expired" | "abandoned";
const COUNTERS: { key: Counter; label: string; event: string }[] = [
  { key: "accepted", label: "Accepted replicas", event: "SegmentAccepted" },
  { key: "rejected", label: "Rejected (out-voted)", event: "ReplicaRejected" },
  { key: "expired", label: "Expired leases", event: "ReplicaExpired" },
  { key: "abandoned", label: "Given back", event: "ReplicaAbandoned" },
];

const argOf = (e: FoldEvent, key: string) => (e.args as Record<string, unknown>)[key];
const isAddress = (value: unknown, address: Address) => typeof value === "string" && getAddress(value) === address;

/** The provider's facts from the events. */
export function providerFacts(state: ProtocolState, events: readonly FoldEvent[], address: Address) {
  const credits = new Map<string, { total: bigint; events: FoldEvent[] }>();
  let withdrawn = 0n;
  const slashes: FoldEvent[] = [];
  let slashed = 0n;
  const counters: Record<Counter, FoldEvent[]> = { accepted: [], rejected: [], expired: [], abandoned: [] };
  const acceptedSegments = new Set<string>();
  const sceneFaults: FoldEvent[] = [];
  for (const job of state.jobs.values()) {
    for (const seg of job.segments.values()) {
      // Only acceptances that earn reputation (the sdk's earnsCredit: not on its own job, a reward of at least minCreditReward).
      if (seg.status !== SegmentStatus.Accepted || !earnsCredit(job, address, state.minCreditReward ?? 0n)) continue;
      if (seg.replicas.some((r) => r.provider === address && r.verdict === "accepted")) acceptedSegments.add(`${job.jobId}:${seg.index}`);
    }
  }
  for (const e of events) {
    switch (e.eventName) {
      case "Credited":
        if (isAddress(argOf(e, "account"), address)) {
          const kind = CreditKindNames[Number(argOf(e, "kind"))] ?? `kind ${argOf(e, "kind")}`;
          const entry = credits.get(kind) ?? { total: 0n, events: [] };
          entry.total += argOf(e, "amount") as bigint;
          entry.events.push(e);
          credits.set(kind, entry);
        }
        break;
      case "Withdrawn":
        if (isAddress(argOf(e, "account"), address)) withdrawn += argOf(e, "amount") as bigint;
        break;
      case "StakeSlashed":
        if (isAddress(argOf(e, "provider"), address)) {
          slashed += argOf(e, "amount") as bigint;
          slashes.push(e);
        }
        break;
      case "SegmentAccepted":
        if (acceptedSegments.has(`${argOf(e, "jobId")}:${argOf(e, "segment")}`)) counters.accepted.push(e);
        break;
      case "ReplicaRejected":
      case "ReplicaExpired":
        if (isAddress(argOf(e, "provider"), address)) counters[e.eventName === "ReplicaRejected" ? "rejected" : "expired"].push(e);
        break;
      case "ReplicaAbandoned":
        if (!isAddress(argOf(e, "provider"), address)) break;
        // A give-back for a scene fault is not held against the provider (the sdk's countsAsAbandoned).
        if (countsAsAbandoned(Number(argOf(e, "reason")))) counters.abandoned.push(e);
        else sceneFaults.push(e);
        break;
    }
  }
  const held: { jobId: bigint; segment: number; replica: number; state: number; leaseEnd: bigint }[] = [];
  for (const job of state.jobs.values()) {
    for (const seg of job.segments.values()) {
      seg.replicas.forEach((rep, replica) => {
        if (rep.provider === address && isHeld(rep)) held.push({ jobId: job.jobId, segment: seg.index, replica, state: rep.state, leaseEnd: rep.leaseEnd });
      });
    }
  }
  return { credits, withdrawn, slashed, slashes, counters, sceneFaults, held };
}

function EventLinks({ events, testId }: { events: readonly FoldEvent[]; testId: string }) {
  if (events.length === 0) return <span className="muted">none</span>;
  return (
    <ul className="event-links" data-testid={testId}>
      {events.map((e) => {
        const jobId = argOf(e, "jobId") as bigint | undefined;
        const segment = argOf(e, "segment");
        return (
          <li key={`${e.blockNumber}:${e.logIndex}`} data-testid={`${testId}-event`}>
            {e.eventName} in block {e.blockNumber.toString()}
            {jobId !== undefined && (
              <>
                {" "}
                — <Link href={`/job/${jobId}`}>job #{jobId.toString()}</Link>
                {segment !== undefined ? ` segment ${segment}` : ""}
              </>
            )}{" "}
            <span className="mono muted" title={e.transactionHash}>
              {e.transactionHash.slice(0, 10)}…
            </span>
          </li>
        );
      })}
    </ul>
  );
}

export function ProviderHistory({ address, now }: { address: Address; now: number | undefined }) {
  const rc = useRuntimeConfig();
  const config = useConfig();
  const account = useAccount();
  const { symbol, decimals } = useToken();
  const live = useProtocolState();
  const amount = (x: bigint | undefined) => formatAmount(x, decimals, symbol);
  const facts = useMemo(() => (live.state ? providerFacts(live.state, live.events, address) : undefined), [live.version, address]); // eslint-disable-line react-hooks/exhaustive-deps
  const own = account.status === "connected" && account.address.toLowerCase() === address.toLowerCase();
  const balance = useReadMarket({ address: rc.addresses.market, functionName: "balanceOf", args: [address] });
  const withdrawTx = useTransaction("Withdraw earnings");
  const wrongChain = account.chainId !== rc.chainId;

  if (live.error && !facts) return <p className="tx tx-error">Could not read the history: {live.error}</p>;
  if (!facts) return <p className="muted">Reading the history…</p>;
  const earned = [...facts.credits.values()].reduce((sum, c) => sum + c.total, 0n);
  return (
    <>
      <section className="panel">
        <h2>Earnings and slashes</h2>
        <dl className="stats">
          <Stat label="Credited in all" value={amount(earned)} testId="earned" />
          <Stat label="Withdrawn" value={amount(facts.withdrawn)} testId="withdrawn" />
          <Stat label="Withdrawable now" value={amount(balance.data)} testId="earnings-balance" />
          <Stat label="Stake slashed" value={amount(facts.slashed)} testId="slashed" />
        </dl>
        <Table
          testId="credits"
          rows={[
            ...[...facts.credits].map(([kind, c]) => ({ testId: `credit-${kind}`, label: kind, amount: amount(c.total), events: c.events.length })),
            ...(facts.slashes.length > 0 ? [{ testId: "credit-slashed", label: "Slashed from stake", amount: `−${amount(facts.slashed)}`, events: facts.slashes.length }] : []),
          ]}
          rowKey={(r) => r.testId}
          rowProps={(r) => ({ "data-testid": r.testId })}
          columns={[
            { header: "Credited as", cell: (r) => r.label },
            { header: "Amount", cell: (r) => r.amount },
            { header: "Events", cell: (r) => r.events },
          ]}
        />
        {own && (balance.data ?? 0n) > 0n && (
          <div className="row" style={{ marginTop: "0.75rem" }}>
            <button type="button" data-testid="withdraw-earnings" disabled={wrongChain || withdrawTx.busy} onClick={() => void withdrawTx.run(() => simulateContract(config, { address: rc.addresses.market, abi: jobMarketAbi, account: account.address, functionName: "withdraw" }))}>
              Withdraw {amount(balance.data)}
            </button>
          </div>
        )}
        <TxStatus label={withdrawTx.label} phase={withdrawTx.phase} />
      </section>
      <section className="panel">
        <h2>Reputation events</h2>
        <p className="muted">Every counter of the registry's reputation, with the market events that moved it.</p>
        {COUNTERS.map((c) => (
          <details key={c.key} className="counter" data-testid={`counter-${c.key}`}>
            <summary>
              {c.label}: <strong>{facts.counters[c.key].length}</strong> <span className="muted">({c.event} events)</span>
            </summary>
            <EventLinks events={facts.counters[c.key]} testId={`counter-${c.key}-events`} />
          </details>
        ))}
        {facts.sceneFaults.length > 0 && (
          <details className="counter" data-testid="counter-scene-faults">
            <summary>
              Given back for a scene fault (not counted): <strong>{facts.sceneFaults.length}</strong> <span className="muted">(ReplicaAbandoned events)</span>
            </summary>
            <EventLinks events={facts.sceneFaults} testId="counter-scene-faults-events" />
          </details>
        )}
        {facts.slashes.length > 0 && (
          <details className="counter" data-testid="counter-slashes">
            <summary>
              Slashes: <strong>{facts.slashes.length}</strong> <span className="muted">(StakeSlashed events)</span>
            </summary>
            <EventLinks events={facts.slashes} testId="counter-slashes-events" />
          </details>
        )}
      </section>
      <section className="panel">
        <h2>Replicas held now</h2>
        {facts.held.length === 0 ? (
          <p className="muted" data-testid="no-held">
            None.
          </p>
        ) : (
          <Table
            testId="held-replicas"
            rows={facts.held}
            rowKey={(h) => `${h.jobId}:${h.segment}:${h.replica}`}
            rowProps={(h) => ({ "data-testid": `held-${h.jobId}-${h.segment}` })}
            columns={[
              { header: "Job", cell: (h) => <Link href={`/job/${h.jobId}`}>#{h.jobId.toString()}</Link> },
              { header: "Segment", cell: (h) => h.segment },
              { header: "Replica", cell: (h) => h.replica },
              { header: "State", cell: (h) => ReplicaStateNames[h.state] },
              { header: "Lease", cell: (h) => (now === undefined ? "…" : BigInt(now) < h.leaseEnd ? `ends in ${formatDuration(Number(h.leaseEnd - BigInt(now)))}` : "ended") },
            ]}
          />
        )}
      </section>
    </>
  );
}
