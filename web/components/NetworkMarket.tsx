"use client";
/**
 * The market's recent activity for the Network page, from the sdk's fold of every event
 * (lib/useProtocolState.ts) and the providers' profiles (the sdk's `scanProviders`): the
 * registered providers with their engines, benchmark, CPU kernel class (with a count per class)
 * and reputation score; the latest
 * settlements; and the price of recent jobs per engine (from each job's manifest).
 */
import { useMemo } from "react";
import Link from "next/link";
import { usePublicClient } from "wagmi";
import { useQueries, useQuery } from "@tanstack/react-query";
import { cpuKernelCounts, fetchManifest, profileCpuKernel, scanProviders, type FoldEvent } from "@tessellate/sdk";
import type { Address } from "viem";
import { gatewayCat } from "../lib/composite.ts";
import { formatAmount, formatBps, shortAddress } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useProtocolState } from "../lib/useProtocolState.ts";
import { EventTable } from "./EventTable.tsx";
import { Table, hashColumn } from "./Table.tsx";

const RECENT_JOBS = 20;
const RECENT_SETTLEMENTS = 10;

/** The arguments of a `SegmentAccepted` event. */
const accepted = (e: FoldEvent) => e.args as { jobId: bigint; segment: number };

function median(values: bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2n;
}

export function NetworkMarket() {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  const { symbol, decimals } = useToken();
  const amount = (x: bigint | undefined) => formatAmount(x, decimals, symbol);
  const live = useProtocolState();
  const scan = useQuery({
    queryKey: ["provider-scan", rc.chainId, rc.addresses.registry],
    enabled: client !== undefined,
    refetchInterval: 15_000,
    queryFn: ({ signal }) => scanProviders({ publicClient: client!, registry: rc.addresses.registry }, gatewayCat(rc.ipfsGatewayUrl), { signal }),
  });
  const jobs = useMemo(() => (live.state ? [...live.state.jobs.values()].sort((a, b) => (a.jobId < b.jobId ? 1 : -1)).slice(0, RECENT_JOBS) : []), [live.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const manifests = useQueries({
    queries: jobs.map((job) => ({
      queryKey: ["manifest", job.params.manifestCid],
      staleTime: Infinity,
      retry: false,
      queryFn: ({ signal }: { signal: AbortSignal }) => fetchManifest(gatewayCat(rc.ipfsGatewayUrl), job.params.manifestCid, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) }),
    })),
  });
  const prices = useMemo(() => {
    const byEngine = new Map<string, { rewards: bigint[]; perMegapixel: bigint[]; jobs: bigint[] }>();
    jobs.forEach((job, i) => {
      const m = manifests[i]?.data;
      if (!m) return;
      const key = `${m.engine.name} ${m.engine.version}`;
      const entry = byEngine.get(key) ?? { rewards: [], perMegapixel: [], jobs: [] };
      entry.rewards.push(job.params.rewardPerReplica);
      // What the requester pays the providers for one megapixel of one frame, rendered once.
      const pixels = BigInt(m.output.width * m.output.height * (m.frames.end - m.frames.start + 1));
      entry.perMegapixel.push((job.params.rewardPerReplica * BigInt(job.params.segmentCount) * 1_000_000n) / pixels);
      entry.jobs.push(job.jobId);
      byEngine.set(key, entry);
    });
    return [...byEngine].sort(([a], [b]) => a.localeCompare(b));
  }, [jobs, manifests.map((q) => q.dataUpdatedAt).join(",")]); // eslint-disable-line react-hooks/exhaustive-deps
  const unknown = jobs.filter((_, i) => manifests[i]?.isError).length;
  const record = (address: Address) => live.state?.providers.get(address);
  const settlements = useMemo(() => live.events.filter((e) => e.eventName === "SegmentAccepted").slice(-RECENT_SETTLEMENTS).reverse(), [live.version]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <>
      <section className="panel">
        <h2>Providers</h2>
        {scan.error && <p className="tx tx-error">Could not read the providers: {scan.error.message.split("\n")[0]}</p>}
        {scan.data && scan.data.providers.length === 0 && <p className="muted">No provider is registered.</p>}
        {scan.data && scan.data.providers.length > 0 && (
          <p className="muted" data-testid="cpu-kernels">
            CPU kernel classes (honest renders from different classes differ in a few pixels; only tolerant verification accepts that):{" "}
            {cpuKernelCounts(scan.data)
              .map((k) => `${k.kernel} ${k.providers}`)
              .join(", ") || "no readable profile"}
          </p>
        )}
        {scan.data && scan.data.providers.length > 0 && (
          <Table
            testId="providers"
            rows={scan.data.providers}
            rowKey={(p) => p.address}
            rowProps={(p) => ({ "data-testid": `provider-${p.address}` })}
            columns={[
              {
                header: "Provider",
                cell: (p) => (
                  <Link href={`/provider/${p.address}`} className="mono" title={p.address}>
                    {shortAddress(p.address)}
                  </Link>
                ),
              },
              {
                header: "Engines (benchmark score)",
                cell: (p) => (p.profile ? p.profile.engines.map((e) => `${e.name} ${e.version} (${e.score})`).join(", ") || "none advertised" : <span className="muted">profile unreadable</span>),
                cellProps: () => ({ "data-testid": "provider-engines" }),
              },
              { header: "CPU kernel", cell: (p) => (p.profile ? profileCpuKernel(p.profile) : "—"), cellProps: () => ({ "data-testid": "provider-cpu-kernel" }) },
              { header: "Reputation", cell: (p) => (record(p.address) ? formatBps(record(p.address)!.reputation.score) : "…"), cellProps: () => ({ "data-testid": "provider-score" }) },
              { header: "Accepted", cell: (p) => record(p.address)?.reputation.accepted ?? "…" },
              { header: "Staked", cell: (p) => amount(record(p.address)?.staked) },
            ]}
          />
        )}
      </section>
      <section className="panel">
        <h2>Recent settlements</h2>
        {settlements.length === 0 ? (
          <p className="muted">No segment has been accepted yet.</p>
        ) : (
          <EventTable
            testId="settlements"
            events={settlements}
            rowProps={() => ({ "data-testid": "settlement" })}
            columns={[
              { header: "Job", cell: (e) => <Link href={`/job/${accepted(e).jobId}`}>#{accepted(e).jobId.toString()}</Link> },
              { header: "Segment", cell: (e) => accepted(e).segment },
              { header: "Reward per replica", cell: (e) => amount(live.state?.jobs.get(accepted(e).jobId)?.params.rewardPerReplica) },
              // The accepted replica's digest, from the fold (SegmentAccepted names the replica, not its digest).
              hashColumn("Digest", (e) => live.state?.jobs.get(accepted(e).jobId)?.segments.get(accepted(e).segment)?.accepted?.digest ?? "", 14),
            ]}
          />
        )}
      </section>
      <section className="panel">
        <h2>Price of recent jobs per engine</h2>
        <p className="muted">
          The {jobs.length} newest jobs{unknown > 0 ? ` (${unknown} whose manifest could not be read are left out)` : ""}: reward per replica, and what the requester pays per megapixel of one frame rendered once.
        </p>
        {prices.length > 0 && (
          <Table
            testId="prices"
            rows={prices}
            rowKey={([engine]) => engine}
            rowProps={([engine]) => ({ "data-testid": `price-${engine.split(" ")[0]}` })}
            columns={[
              { header: "Engine", cell: ([engine]) => engine },
              { header: "Jobs", cell: ([, p]) => p.jobs.length },
              { header: "Median reward per replica", cell: ([, p]) => amount(median(p.rewards)), cellProps: () => ({ "data-testid": "price-median" }) },
              { header: "Lowest – highest", cell: ([, p]) => `${amount(p.rewards.reduce((a, b) => (b < a ? b : a)))} – ${amount(p.rewards.reduce((a, b) => (b > a ? b : a)))}` },
              { header: "Median per megapixel·frame", cell: ([, p]) => amount(median(p.perMegapixel)) },
            ]}
          />
        )}
      </section>
    </>
  );
}
