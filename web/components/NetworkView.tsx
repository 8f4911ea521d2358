"use client";
/**
 * The network at a glance, from the contracts' views: tokens in escrow and staked, balances not
 * yet withdrawn, the fee, and every job, paged newest first through `jobCount` / `jobOf`.
 */
import { useState } from "react";
import Link from "next/link";
import { useReadContracts } from "wagmi";
import { JobStatus } from "@tessellate/sdk/contracts.generated";
import { jobMarketAbi, useReadMarket, useReadRegistry } from "../lib/contracts.ts";
import { formatAmount, formatBps, formatDuration, shortAddress } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { Table } from "./Table.tsx";
import { NetworkMarket } from "./NetworkMarket.tsx";
import { Stat } from "./Stat.tsx";

const PAGE_SIZE = 10;
const JOB_STATUS_NAME = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name])) as Record<number, string>;

export function NetworkView() {
  const { addresses } = useRuntimeConfig();
  const { symbol, decimals } = useToken();
  const market = { address: addresses.market } as const;
  const jobCount = useReadMarket({ ...market, functionName: "jobCount" });
  const totalEscrow = useReadMarket({ ...market, functionName: "totalEscrow" });
  const totalBalances = useReadMarket({ ...market, functionName: "totalBalances" });
  const feeBps = useReadMarket({ ...market, functionName: "feeBps" });
  const totalStaked = useReadRegistry({ address: addresses.registry, functionName: "totalStaked" });
  const unbondingDelay = useReadRegistry({ address: addresses.registry, functionName: "unbondingDelay" });
  const [page, setPage] = useState(0);

  const count = jobCount.data ?? 0n;
  const pages = Math.max(1, Math.ceil(Number(count) / PAGE_SIZE));
  // Job ids are 1..jobCount; the newest first.
  const first = count - BigInt(page * PAGE_SIZE);
  const ids: bigint[] = [];
  for (let id = first; id > 0n && ids.length < PAGE_SIZE; id--) ids.push(id);
  const jobs = useReadContracts({
    contracts: ids.map((id) => ({ address: addresses.market, abi: jobMarketAbi, functionName: "jobOf", args: [id] }) as const),
    query: { enabled: ids.length > 0 },
  });

  return (
    <>
      <h1>Network</h1>
      <section className="panel">
        <dl className="stats">
          <Stat label="Jobs" value={jobCount.data?.toString() ?? "…"} testId="job-count" />
          <Stat label="In escrow" value={formatAmount(totalEscrow.data, decimals, symbol)} testId="total-escrow" />
          <Stat label="Staked by providers" value={formatAmount(totalStaked.data, decimals, symbol)} testId="total-staked" />
          <Stat label="Credited, not withdrawn" value={formatAmount(totalBalances.data, decimals, symbol)} testId="total-balances" />
          <Stat label="Protocol fee" value={formatBps(feeBps.data)} />
          <Stat label="Unbonding delay" value={unbondingDelay.data === undefined ? "…" : formatDuration(Number(unbondingDelay.data))} />
        </dl>
      </section>
      <section className="panel">
        <h2>Jobs</h2>
        {count === 0n ? (
          <p className="muted" data-testid="no-jobs">
            {jobCount.isPending ? "Loading…" : "No job has been posted yet."}
          </p>
        ) : (
          <>
            <Table
              testId="jobs"
              rows={ids.map((id, i) => ({ id, read: jobs.data?.[i] }))}
              rowKey={({ id }) => id.toString()}
              rowProps={({ id }) => ({ "data-testid": `job-${id}` })}
              columns={[
                { header: "Job", cell: ({ id }) => `#${id}` },
                {
                  header: "Requester",
                  cell: ({ read }) =>
                    read?.result ? (
                      <Link href={`/provider/${read.result.requester}`} className="mono" title={read.result.requester}>
                        {shortAddress(read.result.requester)}
                      </Link>
                    ) : (
                      <span className="muted">{read?.error ? `could not read: ${read.error.message.split("\n")[0]}` : "…"}</span>
                    ),
                },
                { header: "Status", cell: ({ read }) => read?.result && (JOB_STATUS_NAME[read.result.status] ?? read.result.status) },
                { header: "Segments touched", cell: ({ read }) => read?.result && `${read.result.segmentsTouched} / ${read.result.segmentCount}` },
                { header: "Replicas / quorum", cell: ({ read }) => read?.result && `${read.result.redundancy} / ${read.result.quorum}` },
                { header: "Reward per replica", cell: ({ read }) => read?.result && formatAmount(read.result.rewardPerReplica, decimals, symbol) },
                { header: "Escrow", cell: ({ read }) => read?.result && formatAmount(read.result.escrow, decimals, symbol) },
                { header: "Deadline", cell: ({ read }) => read?.result && new Date(Number(read.result.deadline) * 1000).toLocaleString() },
              ]}
            />
            <div className="pager">
              <button className="secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>
                Newer
              </button>
              <span className="muted">
                page {page + 1} of {pages}
              </span>
              <button className="secondary" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
                Older
              </button>
            </div>
          </>
        )}
      </section>
      <NetworkMarket />
    </>
  );
}
