/**
 * `npm run bench:latency` — how fast the provider nodes react to the chain (a benchmark that
 * prints figures, not a test; no timed assertion). Two intervals, over --jobs tiny jobs:
 *  1. claim latency: `JobCreated` → the first `ReplicasClaimed` of the job;
 *  2. settlement latency: the transaction that completes the segment's set of sealed replicas (the
 *     last commit, or the direct reveal of the last replica; it emits `RevealsOpened`) →
 *     `SegmentAccepted`. At r = 1 the direct reveal settles in its own transaction (0 ms), so the
 *     default is r = 2 with two providers: the second to finish reveals directly, and the first
 *     must notice `RevealsOpened` and reveal, which settles the segment.
 * Target: p50 <= 250 ms for both on the local network.
 *
 * Method. Block timestamps have a resolution of 1 s, so they are not used. This process subscribes
 * to the JobMarket's logs with `eth_subscribe("logs")` over the Hardhat node's WebSocket endpoint
 * (push, as each block is mined: Hardhat automines one block per transaction) and stamps every log
 * with `performance.timeOrigin + performance.now()` when it arrives; both ends of an interval are
 * stamped the same way, so the push delay cancels out. The providers' own log lines (pino, ms) add
 * a breakdown of the claim latency: `accepting job N` is written when the node has seen the job,
 * fetched its manifest and decided, right before it sends the claim.
 *
 * Jobs: the builtin sample scene at 8x8, 1 frame, 1 tile (1 segment), 1 sample, a different seed
 * per job (so every job has its own manifest; the scene itself is cached by the providers after
 * the first job, as it would be for a requester's repeated scene). Jobs are posted one at a time,
 * each 200–400 ms (random) after the previous one settled, so that job creation does not lock
 * into step with the providers' polling. --warmup jobs (default 2) run first and are not counted.
 * Providers run with their defaults for the local network (100 ms polling), engines = builtin,
 * 1 thread.
 *
 * What bounds the figures: a provider notices a new block only at its next chain poll
 * (chain.pollingIntervalMs, 100 ms on loopback), so each reaction waits 0–100 ms (50 ms on average,
 * less for "the first of two providers") before the node reads the logs, ticks and sends its
 * transaction. --provider-polling-ms overrides the interval to show that dependence.
 *
 * Flags: --jobs N (50)  --warmup N (2)  --redundancy 1|2|3 (2; as many providers)
 *        --provider-polling-ms N (unset: the providers' default)  --keep
 * Ports: chain 8971, IPFS API 5971 / gateway 5972, provider APIs 7971…
 * Exit code 0 when the figures were produced (target met or not), non-zero on errors.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildManifest, jobCost, parseSubmitOptions, prepareScene } from "@tessellate/cli";
import { encodeManifest, type JobParams } from "@tessellate/sdk";
import { BUILTIN_VERSION } from "@tessellate/provider-node/engines/builtin/index";
import {
  usage,
  jobEvents,
  ms,
  nowMs,
  observeMarket,
  pause,
  percentile,
  readProviderLog,
  runBench,
  slotSegment,
  startBenchNetwork,
  table,
  type ObservedEvent,
} from "./bench/harness.ts";
import { DEVNET_ROLES } from "./devnet/accounts.ts";
import { testPort } from "./devnet/ports.ts";

const ROOT = join(import.meta.dirname, "..");
const SCENE = join(ROOT, "scenes/builtin-sample");
const TARGET_P50_MS = 250;
const PORTS = { chainPort: testPort(8971), ipfsApiPort: testPort(5971), ipfsGatewayPort: testPort(5972), providerPort: testPort(7971) };

const { values } = usage(() =>
  parseArgs({
    options: {
      jobs: { type: "string", default: "50" },
      warmup: { type: "string", default: "2" },
      redundancy: { type: "string", default: "2" },
      "provider-polling-ms": { type: "string" },
      keep: { type: "boolean", default: false },
    },
  }),
);
const jobCount = Number(values.jobs);
/** The providers' chain polling interval: their default on loopback is 100 ms. */
const pollingMs = values["provider-polling-ms"] ?? "100";
const warmup = Number(values.warmup);
const redundancy = Number(values.redundancy);
if (!Number.isInteger(jobCount) || jobCount < 1 || !Number.isInteger(warmup) || warmup < 0 || ![1, 2, 3].includes(redundancy)) {
  console.error("--jobs must be a positive integer, --warmup a non-negative integer, --redundancy 1, 2 or 3");
  process.exit(2);
}

const baseOptions = {
  engine: "builtin",
  size: "8x8",
  frames: "1",
  tiles: "1x1",
  framesPerSegment: "1",
  redundancy: String(redundancy),
  quorum: String(redundancy),
  reward: "1",
  collateral: "2",
  samples: "1",
  maxBounces: "1",
  lease: "5m",
  revealWindow: "2m",
  deadline: "1h",
  wait: false,
};

interface JobTiming {
  jobId: bigint;
  createdAt: number;
  firstClaimAt: number;
  firstClaimer: string;
  sealedAt: number;
  sealedBy: "direct reveal" | "commit";
  acceptedAt: number;
}

await runBench("latency", { keep: values.keep }, async (run) => {
  const total = warmup + jobCount;
  run.print(`bench:latency — ${total} jobs (${warmup} warm-up), 1 segment each, r = ${redundancy} with ${redundancy} provider(s)`);

  const network = await startBenchNetwork(run, PORTS);
  const providers = [];
  for (let i = 0; i < redundancy; i++) {
    providers.push(
      await network.startProvider({
        account: DEVNET_ROLES.firstProvider + i,
        httpPort: PORTS.providerPort + i,
        env: {
          TESSELLATE_ENGINES: "builtin",
          TESSELLATE_CPU_THREADS: "1",
          ...(values["provider-polling-ms"] ? { TESSELLATE_POLLING_INTERVAL_MS: values["provider-polling-ms"] } : {}),
        },
      }),
    );
    run.signal.throwIfAborted();
  }
  const observer = await observeMarket(network.rpcUrl, network.addresses.market);
  run.onCleanup(() => observer.stop());

  // ---------------------------------------------------------------- scene, escrow
  const requester = await network.client(DEVNET_ROLES.requester);
  const prepared = await prepareScene(SCENE, undefined, "builtin");
  const sceneCid = await network.storage.addFolder(prepared.dir, { signal: run.signal });
  const feeBps = await requester.feeBps();
  const first = parseSubmitOptions(SCENE, { ...baseOptions, seed: "0" });
  const cost = jobCost(1, redundancy, first.reward, feeBps);
  await requester.approve(network.addresses.market, cost.escrow * BigInt(total));

  // ---------------------------------------------------------------- jobs, one at a time
  const timings: JobTiming[] = [];
  for (let i = 0; i < total; i++) {
    run.signal.throwIfAborted();
    const options = parseSubmitOptions(SCENE, { ...baseOptions, seed: String(1000 + i) });
    const manifest = buildManifest(options, { cid: sceneCid, entry: prepared.entry, sizeBytes: prepared.sizeBytes }, BUILTIN_VERSION);
    const manifestCid = await network.storage.addBytes(encodeManifest(manifest), { signal: run.signal });
    const chainNow = await requester.latestTimestamp();
    const params: JobParams = {
      manifestCid,
      segmentCount: 1,
      redundancy,
      quorum: options.quorum,
      rewardPerReplica: options.reward,
      collateralPerReplica: options.collateral,
      leaseDuration: options.leaseSeconds,
      revealWindow: options.revealWindowSeconds,
      deadline: chainNow + 3600n,
      minReputation: 0,
      maxFeeBps: feeBps,
    };
    await pause(200 + Math.random() * 200, run.signal);
    const { jobId } = await requester.createJob(params);
    await observer.until(() => jobEvents(observer.events, jobId, "SegmentAccepted").length > 0, {
      timeoutMs: 60_000,
      signal: run.signal,
      what: `job ${jobId} to settle (provider logs: ${providers.map((p) => p.logFile).join(", ")})`,
    });
    const timing = timingOf(observer.events, jobId);
    if (i >= warmup) timings.push(timing);
    const done = timings.length;
    run.progress.set(
      `job ${i + 1}/${total}${i < warmup ? " (warm-up)" : ""} · claim ${ms(timing.firstClaimAt - timing.createdAt)} · settle ${ms(timing.acceptedAt - timing.sealedAt)}` +
        (done > 0 ? ` · p50 so far ${ms(percentile(timings.map((t) => t.firstClaimAt - t.createdAt), 50))} / ${ms(percentile(timings.map((t) => t.acceptedAt - t.sealedAt), 50))}` : ""),
    );
  }
  await pause(300, run.signal); // the providers' last log lines
  run.progress.done();

  // ---------------------------------------------------------------- breakdown from the providers' logs
  const logs = new Map(providers.map((p) => [p.address.toLowerCase(), readProviderLog(p.logFile)]));
  const decided: number[] = [];
  const claimTx: number[] = [];
  for (const t of timings) {
    const line = logs.get(t.firstClaimer)?.find((l) => l.msg === `accepting job ${t.jobId}`);
    if (!line) continue;
    decided.push(line.time - t.createdAt);
    claimTx.push(t.firstClaimAt - line.time);
  }

  // ---------------------------------------------------------------- report
  const claim = timings.map((t) => t.firstClaimAt - t.createdAt);
  const settle = timings.map((t) => t.acceptedAt - t.sealedAt);
  const direct = timings.filter((t) => t.sealedBy === "direct reveal").length;
  const stats = (label: string, v: number[], target = true): string[] => [
    label,
    String(v.length),
    ms(percentile(v, 50)),
    ms(percentile(v, 95)),
    ms(Math.max(...v)),
    ms(Math.min(...v)),
    target ? (percentile(v, 50) <= TARGET_P50_MS ? "met" : "missed") : "",
  ];
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out();
  out(`bench:latency — ${jobCount} jobs (after ${warmup} warm-up), 1 segment each (8x8, 1 sample), r = ${redundancy}, q = ${redundancy}, ${redundancy} provider(s) polling the chain every ${pollingMs} ms`);
  out(`events: ${observer.method}`);
  out(
    `the set was completed by a direct reveal in ${direct} of ${timings.length} jobs, by a commit in ${timings.length - direct}` +
      (redundancy === 1 ? " (r = 1: the direct reveal settles in the same transaction, so interval 2 is 0 by construction)" : ""),
  );
  out();
  for (const line of table([
    ["interval", "n", "p50", "p95", "max", "min", `p50 <= ${TARGET_P50_MS} ms`],
    stats("JobCreated → first ReplicasClaimed", claim),
    stats("  of which: → provider decided (log)", decided, false),
    stats("  of which: decided → claim mined", claimTx, false),
    stats("set sealed (RevealsOpened) → SegmentAccepted", settle),
    ...(redundancy > 1
      ? [
          stats("  sealed by a direct reveal (1 reveal left)", timings.filter((t) => t.sealedBy === "direct reveal").map((t) => t.acceptedAt - t.sealedAt), false),
          stats(`  sealed by a commit (${redundancy} reveals left)`, timings.filter((t) => t.sealedBy === "commit").map((t) => t.acceptedAt - t.sealedAt), false),
        ]
      : []),
  ])) {
    out(`  ${line}`);
  }
  out();
  const met = percentile(claim, 50) <= TARGET_P50_MS && percentile(settle, 50) <= TARGET_P50_MS;
  out(`  target p50 <= ${TARGET_P50_MS} ms on the local network: ${met ? "target met" : "target missed"}`);
});

/** Interval end points of one settled job from the observed events. */
function timingOf(events: ObservedEvent[], jobId: bigint): JobTiming {
  const created = jobEvents(events, jobId, "JobCreated")[0];
  const claims = jobEvents(events, jobId, "ReplicasClaimed").filter((e) => e.event.args.slots.some((p) => slotSegment(p) === 0));
  const opened = jobEvents(events, jobId, "RevealsOpened").find((e) => e.event.args.segments.includes(0));
  const accepted = jobEvents(events, jobId, "SegmentAccepted").find((e) => e.event.args.segment === 0)!;
  // The transaction that completed the set: the one that opened the reveals; at r = 1 the direct
  // reveal opens nothing and settles at once.
  const sealing = opened ?? jobEvents(events, jobId, "ReplicasRevealed")[0];
  const sameTx = events.filter((e) => e.transactionHash === sealing.transactionHash);
  const firstClaim = claims.reduce((a, b) => (b.at < a.at ? b : a));
  return {
    jobId,
    createdAt: created.at,
    firstClaimAt: firstClaim.at,
    firstClaimer: firstClaim.event.args.provider.toLowerCase(),
    sealedAt: sealing.at,
    sealedBy: sameTx.some((e) => e.event.eventName === "ReplicasRevealed") ? "direct reveal" : "commit",
    // Settled by the sealing transaction itself (r = 1): 0 by construction, whatever order its logs arrived in.
    acceptedAt: accepted.transactionHash === sealing.transactionHash ? sealing.at : accepted.at,
  };
}
