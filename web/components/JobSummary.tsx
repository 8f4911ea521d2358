"use client";
/**
 * /job/<id>: the job's state and terms (its verification mode and tolerance among them) from the market's views (`jobOf`) and its
 * manifest CID from its `JobCreated` event; below it the live part from the sdk's event fold
 * (components/JobLive.tsx).
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useBlock, usePublicClient } from "wagmi";
import { getAbiItem } from "viem";
import { JobStatusNames, Verification, VerificationNames, jobMarketAbi } from "@tessellate/sdk";
import { useReadMarket } from "../lib/contracts.ts";
import { formatAmount, formatBps, formatDuration, shortAddress } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { Stat } from "./Stat.tsx";
import { JobLive } from "./JobLive.tsx";

const LOG_RANGE = 5_000n;

export function JobSummary({ id }: { id: string }) {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  const { symbol, decimals } = useToken();
  const valid = /^\d+$/.test(id) && BigInt(id) > 0n;
  const jobId = valid ? BigInt(id) : 0n;
  const job = useReadMarket({ address: rc.addresses.market, functionName: "jobOf", args: [jobId], query: { enabled: valid } });
  const block = useBlock({ watch: true });
  const created = useQuery({
    queryKey: ["job-created", rc.chainId, rc.addresses.market, id],
    enabled: valid && client !== undefined && job.data !== undefined && job.data.status !== 0,
    staleTime: Infinity,
    queryFn: async () => {
      const latest = await client!.getBlockNumber();
      const event = getAbiItem({ abi: jobMarketAbi, name: "JobCreated" });
      // Newest ranges first: a job just posted is found at once.
      for (let to = latest; to >= 0n; to -= LOG_RANGE) {
        const from = to >= LOG_RANGE - 1n ? to - LOG_RANGE + 1n : 0n;
        const logs = await client!.getLogs({ address: rc.addresses.market, event, args: { jobId }, fromBlock: from, toBlock: to, strict: true });
        if (logs.length > 0) return { manifestCid: logs[0]!.args.params!.manifestCid, blockNumber: logs[0]!.blockNumber, hash: logs[0]!.transactionHash };
        if (from === 0n) break;
      }
      return null;
    },
  });

  if (!valid) return <p className="tx tx-error" role="alert">&quot;{id}&quot; is not a job id: job ids are whole numbers from 1.</p>;
  const j = job.data;
  if (j && j.status === 0) return <p className="tx tx-error" role="alert" data-testid="no-such-job">There is no job {id} on this market.</p>;
  const now = block.data?.timestamp;
  const left = j && now !== undefined ? Number(j.deadline - now) : undefined;
  const t = (x: bigint | undefined) => formatAmount(x, decimals, symbol);
  return (
    <>
      <h1>Job {id}</h1>
      <section className="panel">
        <dl className="stats">
          <Stat label="Status" value={j ? JobStatusNames[j.status] : "…"} testId="job-status" />
          <Stat label="Requester" value={j ? <Link href={`/provider/${j.requester}`} className="mono" title={j.requester}>{shortAddress(j.requester)}</Link> : "…"} />
          <Stat label="Segments" value={j ? `${j.segmentsTouched} of ${j.segmentCount} touched` : "…"} testId="job-segments" />
          <Stat label="Replicas / quorum" value={j ? `${j.redundancy} / ${j.quorum}` : "…"} testId="job-redundancy" />
          <Stat label="Reward per replica" value={t(j?.rewardPerReplica)} testId="job-reward" />
          <Stat label="Collateral per replica" value={t(j?.collateralPerReplica)} testId="job-collateral" />
          <Stat label="Fee" value={j ? formatBps(j.feeBps) : "…"} />
          <Stat label="Escrow left" value={t(j?.escrow)} testId="job-escrow" />
          <Stat label="Lease / reveal window" value={j ? `${formatDuration(j.leaseDuration)} / ${formatDuration(j.revealWindow)}` : "…"} testId="job-windows" />
          <Stat label="Deadline" value={left === undefined ? "…" : left > 0 ? `in ${formatDuration(left)}` : "passed"} testId="job-deadline" />
          <Stat label="Minimum reputation" value={j ? String(j.minReputation) : "…"} />
          <Stat
            label="Verification"
            value={j ? (j.verification === Verification.Tolerant ? `${VerificationNames[j.verification]}: up to ${formatBps(j.toleranceBps)} of the compared fingerprint blocks may differ` : `${VerificationNames[j.verification] ?? j.verification}: every pixel equal`) : "…"}
            testId="job-verification"
          />
          <Stat label="Audits" value={j ? (j.auditBps > 0 ? `${formatBps(j.auditBps)} of accepted segments re-rendered by a drawn auditor before payment` : "none") : "…"} testId="job-audits" />
        </dl>
      </section>
      <section className="panel">
        <h2>Manifest</h2>
        {created.data ? (
          <p>
            <a href={`${rc.ipfsGatewayUrl.replace(/\/+$/, "")}/ipfs/${created.data.manifestCid}`} target="_blank" rel="noreferrer">
              <code data-testid="job-manifest-cid">{created.data.manifestCid}</code>
            </a>{" "}
            <span className="muted">
              posted in block {created.data.blockNumber.toString()} (<code className="hash">{created.data.hash}</code>)
            </span>
          </p>
        ) : (
          <p className="muted">{created.isPending ? "Reading the job's creation event…" : "The job's creation event was not found."}</p>
        )}
      </section>
      <JobLive jobId={jobId} />
    </>
  );
}
