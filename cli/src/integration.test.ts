/**
 * The CLI's commands against a real local chain (Hardhat node + the real Ignition deployment),
 * with an in-memory IPFS: a job is posted with `submitJob`, settled by devnet providers driving
 * the sdk market client directly (one segment through a tie-breaker), watched with
 * `waitForJob`, composited with `fetchJob`, reconciled with `auditChain`; then a stored result is
 * tampered with and `--verify-results` must flag it; a second job is cancelled.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseEther, type Address, type Hex } from "viem";
import { connectChain, type ContractAddresses } from "@tessellate/sdk/chain";
import { commitmentOf, randomSalt } from "@tessellate/sdk/commitment";
import { resultFileName } from "@tessellate/sdk/resultFiles";
import { decodeManifest, type Manifest } from "@tessellate/sdk/manifest";
import { createMarketClient, eventsNamed, type MarketClient, type ProtocolEvent } from "@tessellate/sdk/market";
import { pngDigest } from "@tessellate/sdk/pixelDigest";
import { decodePng, encodePng } from "@tessellate/sdk/png";
import { segmentAt } from "@tessellate/sdk/segmentPlan";
import { MemoryStorage } from "@tessellate/sdk/testing/memoryStorage";
import { deployProtocol, startChain, type RunningChain } from "../../scripts/devnet/chain.ts";
import { devnetAccount } from "../../scripts/devnet/accounts.ts";
import { testPort } from "../../scripts/devnet/ports.ts";
import { AbandonReason, roundDigest, SegmentStatus, unpackSlot } from "@tessellate/sdk/protocol";
import { auditChain, auditExitCode, formatAuditReport } from "./commands/audit.ts";
import { cancelJob } from "./commands/cancel.ts";
import { fetchJob } from "./commands/fetch.ts";
import { formatJobStatus, jobStatus } from "./commands/status.ts";
import { submitJob } from "./commands/submit.ts";
import { waitForJob } from "./commands/wait.ts";
import { requireAccount, type CliConfig } from "./config.ts";
import { describeEngineVersion, engineVersionsOf, type RegisteredProvider } from "@tessellate/sdk/providerOffers";
import { scanMarketProviders } from "./chainReads.ts";
import { UsageError } from "./errors.ts";
import { publishTestProfile } from "./testing/profiles.ts";
import { runCli } from "./main.ts";
import { collectingOutput } from "./output.ts";
import { parseSubmitOptions } from "./parse.ts";
import type { JobProgress } from "./progress.ts";

const DEPLOYMENT = "test-cli-flow";
const ROOT = join(import.meta.dirname, "../..");
const PORT = testPort(8731);
const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");

let chain: RunningChain;
let addresses: ContractAddresses;
let requester: MarketClient;
let providers: MarketClient[];
let storage: MemoryStorage;
let workDir: string;

async function clientOf(index: number): Promise<MarketClient> {
  return createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses, account: devnetAccount(index) }));
}

/** The pixels a provider renders for a segment: one colour per segment and frame (`wrong` gives other pixels). */
function renderSegment(manifest: Manifest, segment: number, wrong = false): Map<string, Uint8Array> {
  const { tile, frames } = segmentAt(manifest, segment);
  const files = new Map<string, Uint8Array>();
  for (const frame of frames) {
    const data = new Uint8Array(tile.width * tile.height * 4);
    for (let p = 0; p < tile.width * tile.height; p++) data.set([segment * 30, frame * 40, wrong ? 0 : 200, 255], p * 4);
    files.set(resultFileName(frame), encodePng({ width: tile.width, height: tile.height, data }));
  }
  return files;
}

/** The manifest CID a job was posted with, from its JobCreated event. */
async function manifestCidOf(jobId: bigint): Promise<string> {
  const { findJobCreation } = await import("./chainReads.ts");
  const { event } = await findJobCreation(requester, jobId);
  return (event.args as { params: { manifestCid: string } }).params.manifestCid;
}

/** Claims `count` slots as a provider; returns the slots the contract chose. */
async function claim(provider: MarketClient, jobId: bigint, count: number) {
  const outcome = await provider.claim(jobId, count);
  return outcome.events
    .filter((e: ProtocolEvent) => e.eventName === "ReplicasClaimed")
    .flatMap((e) => (e.args as unknown as { slots: readonly bigint[] }).slots.map(unpackSlot));
}

/** Renders, stores, commits and returns the reveals for the given slots. */
async function renderAndCommit(provider: MarketClient, jobId: bigint, manifest: Manifest, slots: Array<{ segment: number; replica: number }>, wrongSegments: number[] = []) {
  const reveals = [];
  for (const { segment, replica } of slots) {
    const files = renderSegment(manifest, segment, wrongSegments.includes(segment));
    const resultCid = await storage.addEntries(files);
    // The link of the segment's blind round (a tie-breaker reveals a deeper one), as the provider node does.
    const round = Number((await provider.segmentOf(jobId, segment)).round);
    const digest = roundDigest(pngDigest([...files.values()]) as Hex, round);
    const salt = randomSalt();
    reveals.push({ segment, replica, digest, salt, resultCid, commitment: commitmentOf(digest, salt, provider.account as Address, jobId, segment) });
  }
  await provider.commit(jobId, reveals.map(({ segment, replica, commitment }) => ({ segment, replica, commitment })));
  return reveals.map(({ segment, replica, digest, salt, resultCid }) => ({ segment, replica, digest, salt, resultCid }));
}

describe("tessellate CLI on a local chain", { timeout: 120_000 }, () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "tessellate-cli-"));
    chain = await startChain({ port: PORT });
    const deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: DEPLOYMENT });
    addresses = { token: deployed.token, registry: deployed.registry, market: deployed.market };
    const deployer = await clientOf(0);
    requester = await clientOf(1);
    providers = await Promise.all([2, 3, 4].map(clientOf));
    storage = new MemoryStorage();
    await deployer.transferToken(requester.account!, parseEther("1000"));
    // What the providers advertise: two run builtin 1.0.0, one an older builtin and POV-Ray;
    // two run Blender, one on an AVX2 processor, one on an older SSE4.1 one.
    const advertised: Record<string, string>[] = [{ builtin: "1.0.0", blender: "3.4.1" }, { builtin: "1.0.0" }, { builtin: "0.9.0", povray: "3.7.0.10", blender: "3.4.1" }];
    const cpuKernels = ["AVX2", "AVX2", "SSE4.1"];
    for (const [i, p] of providers.entries()) {
      await deployer.transferToken(p.account!, parseEther("100"));
      await p.approve(addresses.registry, parseEther("50"));
      await p.register(await publishTestProfile(storage, p.account!, advertised[i], cpuKernels[i]));
      await p.stake(parseEther("50"));
    }
  });

  after(async () => {
    await chain?.stop();
    await rm(workDir, { recursive: true, force: true });
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT), { recursive: true, force: true });
    await rm(join(ROOT, ".devnet", `ignition-${DEPLOYMENT}.json`), { force: true });
  });

  let jobId: bigint;
  let manifest: Manifest;

  it("posts a job with submitJob, watches it settle (with a tie-breaker), composites it and reconciles the books", async () => {
    const options = parseSubmitOptions(SCENE, {
      engine: "builtin",
      size: "16x12",
      frames: "1-2",
      tiles: "2x2",
      framesPerSegment: "1",
      redundancy: "2",
      quorum: "2",
      reward: "1.5",
      collateral: "3",
      samples: "4",
      deadline: "2h",
      wait: false,
    });
    const out = collectingOutput();
    const submitted = await submitJob(options, { market: requester, storage, output: out });
    jobId = submitted.jobId;
    manifest = decodeManifest(await storage.cat(submitted.manifestCid));
    assert.equal(manifest.scene.entry, "scene.json");
    assert.equal(manifest.engine.version, "1.0.0");
    assert.equal(submitted.params.segmentCount, 8);
    assert.equal(submitted.cost.escrow, 8n * 2n * (parseEther("1.5") + parseEther("0.015")));
    const text = out.lines.join("\n");
    assert.match(text, /^engine {5}builtin 1\.0\.0, the version 2 of 3 registered providers advertise \(also 0\.9\.0 by 1\)$/m);
    assert.match(text, /plan {7}8 segments = 4 tiles \(2×2\) × 2 frame groups/);
    assert.match(text, /estimate .*ESTIMATE/);
    assert.match(text, new RegExp(`posted {5}job ${jobId} `));
    assert.equal((await requester.jobOf(jobId)).escrow, submitted.cost.escrow);

    // Watch while the providers work.
    const seen: JobProgress[] = [];
    const watching = waitForJob({ jobId, fromBlock: submitted.blockNumber, pollIntervalMs: 100, onProgress: (p) => seen.push(p) }, { market: requester });

    const [p1, p2, p3] = providers;
    const slots1 = await claim(p1, jobId, 8);
    const slots2 = await claim(p2, jobId, 8);
    assert.equal(slots1.length, 8);
    assert.equal(slots2.length, 8);
    const reveals1 = await renderAndCommit(p1, jobId, manifest, slots1);
    const reveals2 = await renderAndCommit(p2, jobId, manifest, slots2, [3]); // p2 gets segment 3 wrong
    await p1.reveal(jobId, reveals1);
    const disagreement = await p2.reveal(jobId, reveals2);
    assert.ok(disagreement.events.some((e) => e.eventName === "TieBreakerOpened"), "segment 3 escalates to a tie-breaker");
    const tie = await claim(p3, jobId, 1);
    assert.deepEqual(tie, [{ segment: 3, replica: 2 }]);
    await p3.reveal(jobId, await renderAndCommit(p3, jobId, manifest, tie));

    const outcome = await watching;
    assert.equal(outcome.complete, true);
    assert.equal(outcome.accepted.size, 8);
    assert.equal(seen.at(-1)!.accepted, 8);
    assert.ok(seen.some((p) => p.accepted < 8), "progress was reported before the end");
    assert.equal(outcome.money.escrowLeft, 0n);
    assert.equal(outcome.money.paid, 15n * parseEther("1.5"), "15 agreeing original replicas paid from escrow");
    assert.equal(outcome.money.tieBreakerRewards, parseEther("1.5"));
    assert.equal(outcome.money.refunded, parseEther("1.515"), "the loser's unit goes back");
    assert.equal(outcome.money.compensation, parseEther("1.5"), "the rest of the loser's collateral compensates the requester");

    const outDir = join(workDir, "frames");
    const fetched = await fetchJob({ jobId, outDir }, { market: requester, storage, output: collectingOutput() });
    assert.equal(fetched.report.frames.length, 2);
    assert.deepEqual(fetched.report.missing, []);
    const frame2 = decodePng(new Uint8Array(await readFile(join(outDir, "frame-000002.png"))));
    assert.deepEqual([frame2.width, frame2.height], [16, 12]);
    // bottom-right tile of frame 2 is segment 7, rendered in the colour of (7, 2)
    assert.deepEqual([...frame2.data.subarray((11 * 16 + 15) * 4, (11 * 16 + 15) * 4 + 4)], [210, 80, 200, 255]);

    await p1.withdraw();
    const audit = await auditChain({}, { market: requester, storage });
    assert.deepEqual(audit.discrepancies, [], formatAuditReport(audit).join("\n"));
    assert.equal(audit.counts.jobs, 1);
    assert.equal(audit.counts.acceptedSegments, 8);
    assert.equal(audit.totals.marketTokenBalance, audit.totals.escrow + audit.totals.balances);
    // 16 reveals and the tie-breaker's: each commitment recomputed from the reveal's calldata (a direct reveal has none).
    assert.equal(audit.reveals.total, 17);
    assert.equal(audit.reveals.matched + audit.reveals.direct, 17);
    assert.ok(audit.reveals.matched >= 16, `${audit.reveals.matched} commitments re-checked`);
    assert.equal(audit.reveals.unchecked, 0);
    assert.match(formatAuditReport(audit).join("\n"), new RegExp(`reveals {10}${audit.reveals.matched} of 17 commitments recomputed`));
    assert.equal(auditExitCode(audit), 0);

    const status = await jobStatus({ jobId }, { market: requester, storage });
    const lines = formatJobStatus(status).join("\n");
    assert.match(lines, /8\/8 accepted/);
    assert.match(lines, /^3 +frame 1 +8×6@8,6 +Accepted +3 \(\+1 tb\)/m);
  });

  it("defaults the engine version to what registered providers advertise, and refuses when none offers the engine", async () => {
    const scan = await scanMarketProviders(requester, storage);
    const povray = engineVersionsOf(scan, "povray");
    assert.deepEqual(povray, { engine: "povray", versions: [{ version: "3.7.0.10", providers: 1 }], registered: 3, unreadable: 0, cpuKernels: [{ kernel: "SSE4.1", providers: 1 }] });
    const blender = engineVersionsOf(scan, "blender");
    assert.deepEqual(blender.cpuKernels, [{ kernel: "AVX2", providers: 1 }, { kernel: "SSE4.1", providers: 1 }], "only providers offering Blender are counted");
    assert.equal(
      describeEngineVersion(blender, blender.versions[0]!),
      "blender 3.4.1, the version 2 of 3 registered providers advertise; CPU kernels: AVX2 by 1, SSE4.1 by 1",
    );
    assert.deepEqual(engineVersionsOf(scan, "mitsuba").versions, []);
    const noBuiltin = (p: RegisteredProvider): RegisteredProvider => ({ ...p, profile: { ...p.profile!, engines: p.profile!.engines.filter((e) => e.name !== "builtin") } });
    const options = parseSubmitOptions(SCENE, { engine: "builtin", size: "16x12", reward: "1", collateral: "2", wait: false });
    await assert.rejects(
      submitJob(options, {
        market: requester,
        storage,
        // The same three registered providers, none advertising builtin, one profile unreadable.
        providers: async () => ({ blockNumber: scan.blockNumber, providers: [noBuiltin(scan.providers[0]!), noBuiltin(scan.providers[2]!), { ...scan.providers[1]!, profile: undefined, unreadable: "gone" }] }),
      }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === "--engine-version: no registered provider advertises the builtin engine (3 registered, 1 with an unreadable profile), so there is no version to default to — pass the exact version you expect providers to run, e.g. --engine-version 3.7.0.10",
    );
  });

  it("cancels a partly claimed job: untouched segments refunded, the partial one closed, the books still reconcile", async () => {
    const options = parseSubmitOptions(SCENE, { size: "16x12", frames: "1", tiles: "2x2", reward: "1", collateral: "1", wait: false });
    const submitted = await submitJob(options, { market: requester, storage });
    const [p1] = providers;
    const [held] = await claim(p1, submitted.jobId, 1);
    const out = collectingOutput();
    const result = await cancelJob({ jobId: submitted.jobId }, { market: requester, output: out });
    const unit = parseEther("1.01");
    assert.equal(result.untouchedRefund, 3n * 2n * unit);
    assert.deepEqual(result.closedSegments, [held.segment]);
    assert.equal(result.closedRefund, 2n * unit);
    assert.deepEqual(result.stillRunning, []);
    assert.equal((await requester.jobOf(submitted.jobId)).escrow, 0n);
    assert.match(out.lines.join("\n"), /withdrawable balance/);
    // job status shows the three refunded segments as such, not as Open (issue 12 item 11).
    const status = await jobStatus({ jobId: submitted.jobId }, { market: requester });
    assert.deepEqual(
      status.segments.map((s) => s.status),
      [0, 1, 2, 3].map((i) => (i === held.segment ? "Closed" : "Refunded")),
    );
    assert.equal(formatJobStatus(status).filter((line) => / Refunded /.test(line)).length, 3);
    const audit = await auditChain({}, { market: requester });
    assert.deepEqual(audit.discrepancies, [], formatAuditReport(audit).join("\n"));
    assert.equal(audit.counts.jobs, 2);
  });

  it("runs the commands through the program: status and audit exit 0, bad input exits 2", async () => {
    const env = { TESSELLATE_RPC_URL: chain.rpcUrl, TESSELLATE_MARKET_ADDRESS: addresses.market, TESSELLATE_REGISTRY_ADDRESS: addresses.registry, TESSELLATE_TOKEN_ADDRESS: addresses.token };
    const connect = async (config: CliConfig, signer: boolean) => ({
      market: createMarketClient(await connectChain({ rpcUrl: config.rpcUrl, addresses: config.addresses, account: signer ? await requireAccount(config, env) : undefined })),
      storage,
    });
    const status = collectingOutput();
    assert.equal(await runCli(["node", "tessellate", "job", "status", String(jobId)], { env, output: status, connect }), 0);
    assert.match(status.lines.join("\n"), /job 1 — Open \(every segment settled\)/);
    const audit = collectingOutput();
    assert.equal(await runCli(["node", "tessellate", "audit"], { env, output: audit, connect }), 0, audit.lines.join("\n"));
    assert.match(audit.lines.join("\n"), /everything reconciles: 0 discrepancies/);
    const bad = collectingOutput();
    assert.equal(await runCli(["node", "tessellate", "job", "submit", SCENE, "--size", "160by120", "--reward", "1"], { env, output: bad, connect }), 2);
    assert.match(bad.progressText(), /--size: "160by120" is not WIDTHxHEIGHT/);
    const noKey = collectingOutput();
    assert.equal(await runCli(["node", "tessellate", "job", "cancel", "1"], { env, output: noKey, connect }), 2);
    assert.match(noKey.progressText(), /no key is configured — set TESSELLATE_PRIVATE_KEY/);
  });

  it("--verify-results flags an accepted result whose stored bytes changed", async () => {
    const accepted = (await fetchJob({ jobId, outDir: join(workDir, "again") }, { market: requester, storage })).outcome.accepted.get(5)!;
    const other = renderSegment(manifest, 5, true);
    storage.overwrite(`${accepted.resultCid}/${resultFileName(2)}`, other.get(resultFileName(2))!);

    const audit = await auditChain({ verifyResults: true }, { market: requester, storage });
    assert.equal(auditExitCode(audit), 1);
    assert.equal(audit.verification?.checked, 8);
    assert.equal(audit.verification?.ok, 7);
    assert.equal(audit.discrepancies.length, 1, formatAuditReport(audit).join("\n"));
    const [d] = audit.discrepancies;
    assert.equal(d.source, "ipfs");
    assert.equal(d.subject, `job ${jobId} segment 5`);
    assert.equal(d.expected, `digest ${accepted.digest} (replica ${accepted.replica}'s reveal, the accepted result)`);
    assert.match(d.actual, /have digest 0x[0-9a-f]{64}, not the revealed/);
    assert.match(formatAuditReport(audit).join("\n"), /1 discrepancy:\n {2}job 1 segment 5 — result pixels/);

    // The composite refuses the bad tile and names it; the frame is not written.
    const refetch = await fetchJob({ jobId, outDir: join(workDir, "tampered") }, { market: requester, storage, output: collectingOutput() });
    assert.equal(refetch.report.frames.length, 1);
    assert.equal(refetch.report.failed.length, 1);
    assert.deepEqual(refetch.report.failed[0].badSegments.map((b) => b.segment), [5]);
    assert.ok(!existsSync(join(workDir, "tampered", "frame-000002.png")));
  });

  it("submit without --no-wait watches the job, composites into --out, records the output on-chain and sums up", async () => {
    const [provider] = providers;
    const before = await requester.jobCount();
    // A provider that picks up the next job as soon as it appears.
    const working = (async () => {
      while ((await requester.jobCount()) === before) await new Promise((r) => setTimeout(r, 50));
      const id = before + 1n;
      const m = decodeManifest(await storage.cat(await manifestCidOf(id)));
      const slots = await claim(provider, id, 2);
      await provider.reveal(id, await renderAndCommit(provider, id, m, slots));
    })();
    const outDir = join(workDir, "submitted");
    const options = parseSubmitOptions(SCENE, { size: "8x4", frames: "1", tiles: "2x1", redundancy: "1", quorum: "1", reward: "1", out: outDir, recordOutput: true, video: true });
    const out = collectingOutput();
    const result = await submitJob(options, { market: requester, storage, output: out, pollIntervalMs: 100 });
    await working;
    assert.equal(result.outcome?.complete, true);
    assert.equal(result.fetched?.report.frames.length, 1);
    assert.ok(existsSync(join(outDir, "frame-000001.png")));
    assert.ok(result.outputCid && storage.has(`${result.outputCid}/frame-000001.png`));
    assert.ok(result.video, "a video was attempted (made, or skipped without ffmpeg)");
    const text = out.lines.join("\n");
    assert.match(text, /output {5}\S+ recorded on-chain/);
    assert.match(text, /summary {4}2\/2 segments accepted in \d+:\d\d/);
    assert.match(text, /paid 2 RNDR-T in rewards \+ 0.02 RNDR-T fees; refunded 0 RNDR-T/);
    const status = await jobStatus({ jobId: result.jobId }, { market: requester });
    assert.deepEqual(status.job.outputCids, [result.outputCid]);
  });

  it("stops watching when every registered provider gave the job back for its scene, showing their reasons (issue 12 item 2)", async () => {
    const before = await requester.jobCount();
    // Every provider claims a slot and gives it back as a scene fault, in the engine's words.
    const refusing = (async () => {
      while ((await requester.jobCount()) === before) await new Promise((r) => setTimeout(r, 50));
      const id = before + 1n;
      for (const [i, p] of providers.entries()) {
        const [slot] = await claim(p, id, 1);
        await p.abandon(id, [slot], AbandonReason.SceneFault, `povray: Parse Error: Cannot open include file drums${i}.inc`);
      }
    })();
    const options = parseSubmitOptions(SCENE, { size: "8x4", frames: "1", tiles: "2x1", redundancy: "1", quorum: "1", reward: "1" });
    const out = collectingOutput();
    const registeredProviders = async () => new Set(providers.map((p) => p.account!.toLowerCase()));
    const result = await submitJob(options, { market: requester, storage, output: out, pollIntervalMs: 100, registeredProviders });
    await refusing;
    assert.equal(result.outcome?.stoppedEarly, "refused");
    const text = out.lines.join("\n") + out.progressText();
    for (const i of [0, 1, 2]) assert.match(text, new RegExp(`refused {4}\\S+ gave segment \\d back: SceneFault — povray: Parse Error: Cannot open include file drums${i}\\.inc`));
    assert.match(text, /REFUSED {4}every registered provider gave job \d+ back because of its scene/);
    assert.match(text, /tessellate job cancel \d+/);
    const status = formatJobStatus(await jobStatus({ jobId: result.jobId }, { market: requester })).join("\n");
    assert.match(status, /given back \(why providers returned a claimed slot\):/);
    assert.match(status, /segment \d {2}\S+ {2}SceneFault — povray: Parse Error: Cannot open include file drums2\.inc/);
    await cancelJob({ jobId: result.jobId }, { market: requester, output: collectingOutput() });
  });

  it("draws an audit the replicas' nodes left due: the requester's wait sends auditSegments and the segments settle", async () => {
    // r = 1 plus audits at 1 part in 10,000: the draw almost surely accepts (the draw is the
    // quorum block's hash; an audit would show as AuditOpened and leave the wait to its timeout).
    const options = parseSubmitOptions(SCENE, { size: "8x4", frames: "1-2", tiles: "1x1", redundancy: "1", quorum: "1", reward: "1", audit: "1", wait: false });
    const submitted = await submitJob(options, { market: requester, storage });
    const { jobId } = submitted;
    const [provider] = providers;
    const posted = decodeManifest(await storage.cat(await manifestCidOf(jobId)));
    const slots = await claim(provider, jobId, 2);
    await provider.reveal(jobId, await renderAndCommit(provider, jobId, posted, slots));
    for (const segment of [0, 1]) assert.equal(Number((await requester.segmentOf(jobId, segment)).status), SegmentStatus.Verifying, "waiting for its draw, nobody paid");

    const outcome = await waitForJob({ jobId, pollIntervalMs: 100, timeoutMs: 20_000, drawDueAudits: { afterMs: 300 } }, { market: requester });
    assert.equal(outcome.complete, true, `stopped: ${outcome.stoppedEarly}`);
    const drawn = eventsNamed(await requester.events(submitted.blockNumber, await requester.blockNumber()), "SegmentAccepted").filter((e) => e.args.jobId === jobId);
    assert.equal(drawn.length, 2);
    const tx = await requester.conn.publicClient.getTransaction({ hash: drawn[0]!.transactionHash! });
    assert.equal(tx.from.toLowerCase(), requester.account!.toLowerCase(), "the requester's wait sent the draw");
    assert.equal(outcome.money.paid, 2n * parseEther("1"));
  });

  it("pays with an EIP-2612 permit; after the deadline the wait closes what can no longer settle and refunds it", async () => {
    const options = parseSubmitOptions(SCENE, { size: "8x4", frames: "1-2", tiles: "1x1", reward: "1", lease: "30", revealWindow: "30", deadline: "2m", wait: false, permit: true });
    const allowanceBefore = await requester.allowance(requester.account!, addresses.market);
    const submitted = await submitJob(options, { market: requester, storage });
    assert.equal(await requester.allowance(requester.account!, addresses.market), allowanceBefore, "no approval transaction was needed");
    assert.equal((await requester.jobOf(submitted.jobId)).escrow, submitted.cost.escrow);
    const [provider] = providers;
    const [committed] = await claim(provider, submitted.jobId, 2); // two segments held, one committed
    await provider.commit(submitted.jobId, [{ ...committed, commitment: `0x${"ab".repeat(32)}` }]);
    // The commitment is only in the calldata: the audit reads it there to check the replica's seal.
    const midway = await auditChain({}, { market: requester });
    assert.deepEqual(midway.discrepancies, [], formatAuditReport(midway).join("\n"));
    const rep = midway.state.jobs.get(submitted.jobId)!.segments.get(committed.segment)!.replicas[committed.replica];
    assert.equal(rep.commitment, `0x${"ab".repeat(32)}`);

    const { publicClient } = requester.conn;
    await publicClient.request({ method: "evm_increaseTime" as never, params: [400] as never });
    await publicClient.request({ method: "evm_mine" as never, params: [] as never });
    const outcome = await waitForJob({ jobId: submitted.jobId, closeWhenExpired: true, pollIntervalMs: 100 }, { market: requester });
    assert.equal(outcome.closed.length, 2);
    assert.equal(outcome.complete, false);
    assert.equal(outcome.money.escrowLeft, 0n);
    assert.equal(outcome.money.refunded, submitted.cost.escrow);
    assert.ok(outcome.money.compensation > 0n, "the lapsed lease's collateral compensates the requester");
    const audit = await auditChain({}, { market: requester });
    assert.deepEqual(audit.discrepancies.filter((d) => d.source !== "ipfs"), [], formatAuditReport(audit).join("\n"));
  });
});
