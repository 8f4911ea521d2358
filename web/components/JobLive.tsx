"use client";
/**
 * The live part of the Job page, from the sdk's event fold (lib/useJobState.ts): per frame group
 * a grid of segments coloured by state with counts, where accepted tiles are drawn as they settle
 * (each digest-checked, lib/acceptedTiles.ts); per segment its replicas and the slots given back
 * with the providers' reasons (why a segment is not progressing); the job's recorded outputs
 * (a video among them is played); the event timeline; and the requester's cancel / close
 * segments and anyone's withdraw.
 */
import { useEffect, useState } from "react";
import { useAccount, useBlock, useConfig } from "wagmi";
import { simulateContract } from "wagmi/actions";
import {
  AbandonReasonNames,
  JobStatus,
  ReplicaState,
  ReplicaStateNames,
  SegmentStatus,
  frameGroupCount,
  framesOfGroup,
  isClosable,
  segmentOf,
  tileCount,
  tileRect,
  type FoldEvent,
  type JobRecord,
  type ReplicaRecord,
  type RevealVerdict,
  replicaKey,
  type Manifest,
  type SegmentRecord,
  resultFileName,
  isRefundedByCancellation,
  isSegmentDone,
  sceneRefusals,
  acceptedSegmentOf,
  type AcceptedSegment,
} from "@tessellate/sdk";
import { useQuery } from "@tanstack/react-query";
import { zeroAddress } from "viem";
import { useAcceptedTiles, type AcceptedTile } from "../lib/acceptedTiles.ts";
import { jobMarketAbi, useReadMarket } from "../lib/contracts.ts";
import { formatAmount, formatDuration, shortAddress } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useJobState, useManifest } from "../lib/useJobState.ts";
import { useRevealCheck, type JobRevealCheck } from "../lib/useRevealCheck.ts";
import { useTransaction } from "../lib/useTransaction.ts";
import { EventTable, eventNameColumn } from "./EventTable.tsx";
import { Table, hashColumn } from "./Table.tsx";
import { TxStatus } from "./TxStatus.tsx";
import { compositeInBrowser } from "../lib/composite.ts";

type CompositeState =
  | { step: "idle" }
  | { step: "working"; done: number; total: number }
  | { step: "ready"; frames: { frame: number; url: string; name: string }[] }
  | { step: "failed"; message: string };

/** The composited frames, every tile's digest checked in the browser, to download. */
function Composite({ manifest, job }: { manifest: Manifest; job: JobRecord }) {
  const rc = useRuntimeConfig();
  const [state, setState] = useState<CompositeState>({ step: "idle" });
  useEffect(() => () => {
    if (state.step === "ready") for (const f of state.frames) URL.revokeObjectURL(f.url);
  }, [state]);
  const count = job.params.segmentCount;
  const accepted = new Map<number, AcceptedSegment>();
  for (const [i, seg] of job.segments) {
    const result = acceptedSegmentOf(seg);
    if (result) accepted.set(i, result);
  }
  if (accepted.size < count) return <p className="muted">The composite can be made once every segment is accepted ({accepted.size} of {count} so far).</p>;
  async function make() {
    setState({ step: "working", done: 0, total: 0 });
    try {
      const frames = await compositeInBrowser({ manifest, accepted, gatewayUrl: rc.ipfsGatewayUrl, onProgress: (done, total) => setState({ step: "working", done, total }) });
      setState({
        step: "ready",
        frames: frames.map((f) => ({ frame: f.frame, name: resultFileName(f.frame), url: URL.createObjectURL(new Blob([f.png as Uint8Array<ArrayBuffer>], { type: "image/png" })) })),
      });
    } catch (error) {
      setState({ step: "failed", message: error instanceof Error ? error.message : String(error) });
    }
  }
  return (
    <div data-testid="composite">
      <button type="button" data-testid="make-composite" disabled={state.step === "working"} onClick={() => void make()}>
        Fetch the tiles, check every digest and composite
      </button>
      {state.step === "working" && <p className="tx tx-busy">Checked {state.done} of {state.total || "…"} tiles…</p>}
      {state.step === "failed" && <p className="tx tx-error" role="alert">{state.message}</p>}
      {state.step === "ready" && (
        <>
          <p className="tx tx-ok" data-testid="composite-ready">Every tile matched the digest its quorum accepted ({accepted.size} segments).</p>
          <div className="frames">
            {state.frames.map((f) => (
              <figure key={f.frame} className="frame-grid">
                {/* eslint-disable-next-line @next/next/no-img-element */}
                <img src={f.url} alt={`frame ${f.frame}`} style={{ width: "100%", imageRendering: "pixelated" }} />
                <figcaption>
                  <a href={f.url} download={f.name} data-testid={`download-${f.frame}`}>{f.name}</a>
                </figcaption>
              </figure>
            ))}
          </div>
        </>
      )}
    </div>
  );
}

export const SEGMENT_STATES = ["open", "claimed", "committed", "revealing", "tie-breaker", "verifying", "auditing", "accepted", "failed", "closed"] as const;
export type SegmentState = (typeof SEGMENT_STATES)[number];

/** How a segment shows: its status, else how far its replicas are (an untouched segment of a cancelled job was refunded: closed). */
function stateOf(seg: SegmentRecord, job: JobRecord): SegmentState {
  if (seg.status === SegmentStatus.Accepted) return "accepted";
  if (seg.status === SegmentStatus.Failed) return "failed";
  if (seg.status === SegmentStatus.Closed || isRefundedByCancellation(job, seg)) return "closed";
  // Audited jobs: quorum reached, waiting for the audit draw; then an auditor (or the dispute's three) re-rendering.
  if (seg.status === SegmentStatus.Verifying) return "verifying";
  if (seg.status === SegmentStatus.Auditing || seg.status === SegmentStatus.Disputed) return "auditing";
  if (seg.tieBreakers > 0) return "tie-breaker";
  if (seg.revealDeadline > 0n) return "revealing";
  if (seg.committed > 0) return "committed";
  if (seg.assigned > 0) return "claimed";
  return "open";
}

/** An event's arguments in one line, less the job id and the job's parameters (the page shows them). */
function timelineDetails(e: FoldEvent): string {
  return Object.entries(e.args)
    .filter(([k]) => k !== "jobId" && k !== "params")
    .map(([k, v]) => `${k} ${typeof v === "bigint" ? v.toString() : Array.isArray(v) ? `[${v.length}]` : String(v)}`)
    .join(", ")
    .slice(0, 160);
}

function GivenBack({ seg }: { seg: SegmentRecord }) {
  if (seg.givenBack.length === 0) return null;
  return (
    <>
      <h4>Given back</h4>
      <ul className="given-back" data-testid="given-back">
        {seg.givenBack.map((g, i) => (
          <li key={i}>
            <span className="mono" title={g.provider}>{shortAddress(g.provider)}</span> gave replica {g.replica} back in block {g.blockNumber.toString()}:{" "}
            <strong>{AbandonReasonNames[g.reason] ?? `reason ${g.reason}`}</strong>
            {g.detail ? ` — “${g.detail}”` : ""}
          </li>
        ))}
      </ul>
    </>
  );
}

/** The re-check of a revealed replica's commitment, in words. */
function CommitmentCheck({ verdict, revealed }: { verdict: RevealVerdict | undefined; revealed: boolean }) {
  if (!revealed) return <>—</>;
  if (!verdict) return <span className="muted">checking…</span>;
  switch (verdict.kind) {
    case "matched":
      return <span className="tx-ok" title={`commitment ${verdict.commitment}`}>re-checked: the reveal opens the commitment</span>;
    case "direct":
      return <span className="muted">revealed directly (no commitment)</span>;
    case "unchecked":
      return <span className="muted" title={verdict.why}>unchecked</span>;
    case "mismatch":
      return <span className="tx-error">{verdict.discrepancies.map((d) => `${d.field}: ${d.expected} ≠ ${d.actual}`).join("; ")}</span>;
  }
}

function Replicas({ job, seg, now, reveals }: { job: JobRecord; seg: SegmentRecord; now: bigint | undefined; reveals: JobRevealCheck }) {
  const key = (k: number) => replicaKey(job.jobId, seg.index, k);
  if (seg.replicas.length === 0) return (
    <>
      <p className="muted">No replica has been claimed yet.</p>
      <GivenBack seg={seg} />
    </>
  );
  return (
    <>
      <Table
        testId="replicas"
        rows={seg.replicas}
        rowKey={(_, k) => String(k)}
        columns={[
          { header: "#", cell: (_, k) => k },
          { header: "Provider", cell: (rep) => (rep.provider === zeroAddress ? "—" : shortAddress(rep.provider)), cellProps: () => ({ className: "mono" }) },
          { header: "State", cell: (rep) => ReplicaStateNames[rep.state] },
          {
            header: "Lease",
            cell: (rep) =>
              (rep.state === ReplicaState.Claimed || rep.state === ReplicaState.Committed) && now !== undefined ? (rep.leaseEnd > now ? `ends in ${formatDuration(Number(rep.leaseEnd - now))}` : "ended") : "—",
          },
          hashColumn<ReplicaRecord>("Commit tx", (rep) => rep.commitTx),
          hashColumn<ReplicaRecord>("Reveal tx", (rep) => (rep.digest !== undefined ? reveals.revealTx.get(key(seg.replicas.indexOf(rep))) : undefined)),
          hashColumn<ReplicaRecord>("Digest", (rep) => rep.digest),
          {
            header: "Commitment",
            cell: (rep, k) => <CommitmentCheck verdict={reveals.verdicts.get(key(k))} revealed={rep.digest !== undefined} />,
            cellProps: (rep) => ({ className: "args", "data-testid": `replica-commitment-${seg.replicas.indexOf(rep)}` }),
          },
          { header: "Outcome", cell: (rep) => rep.verdict ?? "—" },
        ]}
      />
      <GivenBack seg={seg} />
    </>
  );
}

/** While a segment's reveal window is open: how long its committed replicas have left to reveal. */
function RevealCountdown({ job, seg, now }: { job: JobRecord; seg: SegmentRecord; now: bigint | undefined }) {
  if (seg.revealDeadline === 0n || isSegmentDone(job, seg) || now === undefined) return null;
  return (
    <p className="muted" data-testid="reveal-countdown">
      {seg.revealDeadline > now ? `Reveal window ends in ${formatDuration(Number(seg.revealDeadline - now))}` : "Reveal window closed: the replicas that did not reveal can be expired"}
      {" "}({seg.revealed} of {seg.slots} revealed)
    </p>
  );
}

/** Why segments are not progressing: the slots providers gave back, with their reasons, for the segments not done. */
function Stuck({ job }: { job: JobRecord }) {
  const rows = [...job.segments.values()].filter((seg) => seg.givenBack.length > 0 && !isSegmentDone(job, seg)).sort((a, b) => a.index - b.index);
  const refusals = sceneRefusals(job);
  if (rows.length === 0) return null;
  return (
    <section className="panel" data-testid="stuck">
      <h2>Why segments are not progressing</h2>
      {refusals.size > 0 && (
        <p className="tx tx-error" data-testid="scene-refusals">
          {refusals.size} provider{refusals.size === 1 ? "" : "s"} refused the scene itself: {[...refusals.values()].map((r) => `${AbandonReasonNames[r.reason]}${r.detail ? ` (“${r.detail}”)` : ""}`).join("; ")}. Check the scene and its manifest; other providers may refuse it too.
        </p>
      )}
      <Table
        rows={rows.flatMap((seg) => seg.givenBack.map((g, i) => ({ segment: seg.index, i, g })))}
        rowKey={(r) => `${r.segment}:${r.i}`}
        rowProps={(r) => ({ "data-testid": `stuck-${r.segment}` })}
        columns={[
          { header: "Segment", cell: (r) => r.segment },
          { header: "Provider", cell: (r) => shortAddress(r.g.provider), cellProps: (r) => ({ className: "mono", title: r.g.provider }) },
          { header: "Reason", cell: (r) => AbandonReasonNames[r.g.reason] ?? r.g.reason },
          { header: "In their words", cell: (r) => r.g.detail || "—", cellProps: () => ({ className: "args" }) },
          { header: "Block", cell: (r) => r.g.blockNumber.toString() },
        ]}
      />
    </section>
  );
}

const VIDEO_EXTENSIONS = /\.(mp4|webm|mov|mkv)$/i;

/** The job's recorded outputs (OutputRecorded): a link to each folder, and its video when it holds one (listed through the IPFS API). */
function Outputs({ job }: { job: JobRecord }) {
  const rc = useRuntimeConfig();
  const gateway = rc.ipfsGatewayUrl.replace(/\/+$/, "");
  const listing = useQuery({
    queryKey: ["outputs", job.outputCids.join(",")],
    enabled: job.outputCids.length > 0,
    staleTime: Infinity,
    queryFn: async () =>
      Promise.all(
        job.outputCids.map(async (cid) => {
          const response = await fetch(`${rc.ipfsApiUrl.replace(/\/+$/, "")}/api/v0/ls?arg=${encodeURIComponent(cid)}`, { method: "POST", signal: AbortSignal.timeout(15_000) });
          if (!response.ok) throw new Error(`the IPFS API answered HTTP ${response.status} listing ${cid}`);
          const body = (await response.json()) as { Objects?: { Links?: { Name: string }[] }[] };
          return { cid, names: (body.Objects?.[0]?.Links ?? []).map((l) => l.Name) };
        }),
      ),
  });
  if (job.outputCids.length === 0) return null;
  return (
    <section className="panel" data-testid="outputs">
      <h2>Outputs</h2>
      {listing.error && <p className="tx tx-error">Could not list the outputs: {listing.error.message}</p>}
      {job.outputCids.map((cid) => {
        const names = listing.data?.find((o) => o.cid === cid)?.names ?? [];
        const videos = names.filter((n) => VIDEO_EXTENSIONS.test(n));
        return (
          <div key={cid}>
            <p>
              <a href={`${gateway}/ipfs/${cid}/`} className="mono" data-testid="output-folder">{cid}</a>{" "}
              <span className="muted">{listing.data ? `${names.length} files` : "…"}</span>
            </p>
            {videos.map((name) => (
              <figure key={name} className="video">
                <video controls preload="none" src={`${gateway}/ipfs/${cid}/${encodeURIComponent(name)}`} data-testid="output-video" style={{ width: "100%", maxHeight: "24rem" }} />
                <figcaption>
                  <a href={`${gateway}/ipfs/${cid}/${encodeURIComponent(name)}`} download={name}>{name}</a>
                </figcaption>
              </figure>
            ))}
          </div>
        );
      })}
    </section>
  );
}

function FrameGrid({ manifest, job, group, selected, onSelect, tiles: drawn }: { manifest: Manifest; job: JobRecord; group: number; selected?: number; onSelect(i: number): void; tiles: ReadonlyMap<number, AcceptedTile> }) {
  const { width, height } = manifest.output;
  const { tilesX, tilesY } = manifest.segmentation;
  const tiles = tileCount(manifest);
  const frames = framesOfGroup(manifest, group);
  const cells = [];
  for (let t = 0; t < tiles; t++) {
    const index = group * tiles + t;
    const r = tileRect(manifest, t % tilesX, Math.floor(t / tilesX));
    const state = stateOf(segmentOf(job, index), job);
    const tile = drawn.get(index);
    cells.push(
      <g key={index} onClick={() => onSelect(index)} className={`seg seg-${state}${selected === index ? " seg-selected" : ""}`} data-testid={`segment-${index}`} data-state={state}>
        <title>{`segment ${index}: ${state}`}</title>
        <rect x={r.x} y={r.y} width={r.width} height={r.height} vectorEffect="non-scaling-stroke" />
        {tile && "url" in tile && <image href={tile.url} x={r.x} y={r.y} width={r.width} height={r.height} preserveAspectRatio="none" className="tile-image" data-testid={`tile-${index}`} />}
        {tile && "problem" in tile && <title>{`segment ${index}: the accepted result does not check: ${tile.problem}`}</title>}
        {tiles <= 256 && !(tile && "url" in tile) && (
          <text x={r.x + r.width / 2} y={r.y + r.height / 2} fontSize={Math.min(width / tilesX, height / tilesY) / 3} textAnchor="middle" dominantBaseline="central">
            {index}
          </text>
        )}
      </g>,
    );
  }
  return (
    <figure className="plan frame-grid">
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="xMidYMid meet" role="img" aria-label={`frames ${frames[0]}–${frames.at(-1)}`}>
        {cells}
      </svg>
      <figcaption className="muted">
        Frame{frames.length === 1 ? "" : "s"} {frames[0]}
        {frames.length > 1 ? `–${frames.at(-1)}` : ""}
      </figcaption>
    </figure>
  );
}

export function JobLive({ jobId }: { jobId: bigint }) {
  const rc = useRuntimeConfig();
  const config = useConfig();
  const account = useAccount();
  const { symbol, decimals } = useToken();
  const { job, events, error } = useJobState(jobId);
  const manifest = useManifest(job?.params.manifestCid);
  const drawn = useAcceptedTiles(manifest.data, job, rc.ipfsGatewayUrl);
  const reveals = useRevealCheck(job, events);
  const block = useBlock({ watch: true });
  const now = block.data?.timestamp;
  const [selected, setSelected] = useState<number | undefined>();
  const me = account.address;
  const balance = useReadMarket({ address: rc.addresses.market, functionName: "balanceOf", args: me ? [me] : undefined, query: { enabled: !!me } });
  const cancelTx = useTransaction("Cancel job");
  const closeTx = useTransaction("Close segments");
  const withdrawTx = useTransaction("Withdraw");

  if (error && !job) return <p className="tx tx-error">Could not read the job&apos;s events: {error}</p>;
  if (!job) return <p className="muted">Reading the job&apos;s events…</p>;
  const m = manifest.data;
  const count = job.params.segmentCount;
  const states = new Map<SegmentState, number>(SEGMENT_STATES.map((s) => [s, 0]));
  const closable: number[] = [];
  for (let i = 0; i < count; i++) {
    const seg = segmentOf(job, i);
    const state = stateOf(seg, job);
    states.set(state, states.get(state)! + 1);
    if (now !== undefined && closable.length < 64 && isClosable(job, seg, now)) closable.push(i);
  }
  const requester = me !== undefined && me.toLowerCase() === job.requester.toLowerCase();
  const wrongChain = account.chainId !== rc.chainId;
  const market = { address: rc.addresses.market, abi: jobMarketAbi, account: me } as const;
  const groups = m ? frameGroupCount(m) : 0;

  return (
    <>
      <section className="panel">
        <h2>Segments</h2>
        <ul className="legend" data-testid="segment-counts">
          {SEGMENT_STATES.map((s) => (
            <li key={s} className={`seg-${s}`} data-testid={`count-${s}`}>
              <span className="swatch" /> {s} {states.get(s)}
            </li>
          ))}
        </ul>
        {manifest.error && <p className="tx tx-error">Could not read the manifest: {manifest.error.message}</p>}
        {m && (
          <div className="frames">
            {Array.from({ length: Math.min(groups, 24) }, (_, g) => (
              <FrameGrid key={g} manifest={m} job={job} group={g} selected={selected} onSelect={setSelected} tiles={drawn} />
            ))}
            {groups > 24 && <p className="muted">… and {groups - 24} more frame groups.</p>}
          </div>
        )}
        {selected !== undefined && (
          <div data-testid="segment-detail">
            <h3>
              Segment {selected}: {stateOf(segmentOf(job, selected), job)}
            </h3>
            <RevealCountdown job={job} seg={segmentOf(job, selected)} now={now} />
            <Replicas job={job} seg={segmentOf(job, selected)} now={now} reveals={reveals} />
            {reveals.error && <p className="tx tx-error">Could not re-check the reveals: {reveals.error}</p>}
          </div>
        )}
      </section>

      <Stuck job={job} />

      <Outputs job={job} />

      <section className="panel">
        <h2>Composite</h2>
        {m ? <Composite manifest={m} job={job} /> : <p className="muted">Reading the manifest…</p>}
      </section>

      <section className="panel">
        <h2>Actions</h2>
        {wrongChain && me && <p className="tx tx-error">Your wallet is on another network: switch it (top right) to act.</p>}
        <div className="row">
          {requester && job.status === JobStatus.Open && (
            <button type="button" className="warn" data-testid="cancel-job" disabled={wrongChain || cancelTx.busy} onClick={() => void cancelTx.run(() => simulateContract(config, { ...market, functionName: "cancelJob", args: [jobId] }))}>
              Cancel job
            </button>
          )}
          {closable.length > 0 && me && (
            <button type="button" className="secondary" data-testid="close-segments" disabled={wrongChain || closeTx.busy} onClick={() => void closeTx.run(() => simulateContract(config, { ...market, functionName: "closeSegments", args: [jobId, closable] }))}>
              Close {closable.length} segment{closable.length === 1 ? "" : "s"} that can no longer finish
            </button>
          )}
          {me && (balance.data ?? 0n) > 0n && (
            <button type="button" data-testid="withdraw" disabled={wrongChain || withdrawTx.busy} onClick={() => void withdrawTx.run(() => simulateContract(config, { ...market, functionName: "withdraw" }))}>
              Withdraw {formatAmount(balance.data, decimals, symbol)}
            </button>
          )}
        </div>
        <p className="muted">
          Your withdrawable balance on the market: <span data-testid="market-balance">{me ? formatAmount(balance.data, decimals, symbol) : "connect a wallet"}</span>
        </p>
        <TxStatus label={cancelTx.label} phase={cancelTx.phase} />
        <TxStatus label={closeTx.label} phase={closeTx.phase} />
        <TxStatus label={withdrawTx.label} phase={withdrawTx.phase} />
      </section>

      <section className="panel">
        <h2>Timeline</h2>
        <EventTable
          testId="timeline"
          events={[...events].reverse().slice(0, 200)}
          rowProps={(e) => ({ "data-testid": `event-${e.eventName}` })}
          columns={[eventNameColumn, { header: "Details", cell: timelineDetails, cellProps: () => ({ className: "mono" }) }]}
        />
      </section>
    </>
  );
}
