/**
 * Gas benchmark (a script that prints figures, not a test). Providers act as the provider node
 * does: the first commits, the second finds its peer sealed and reveals directly, the first reveals.
 *  - gas per settled segment of a 64-segment job at r=2, counting every transaction of the job
 *    (create, claim requests and resolutions, commits, reveals, withdrawals) divided by the
 *    segments, for batch sizes 1 and 16. The two claimers take turns, so each request resolves the
 *    ticket before it in passing (the contract's FIFO) and only the last needs a resolveClaims;
 *    the figure where each claimer resolves its own every ticket is printed beside it;
 *  - createJob gas at 1 and at 10,000 segments;
 *  - claim(1) gas (requestClaim + resolveClaims, as the provider node sends them) on a fresh 1-segment job, and on 10,000- and 1,000,000-segment jobs whose only
 *    open segment is the last (the others are marked closed by writing the market's bitmap
 *    storage directly, as claiming a million slots would take hours; the claim must then land
 *    on the last segment, which also checks the storage slots written).
 *  - gas per settled segment of the same job in Tolerant mode at batch 16: each replica commits to
 *    its own digest and a 256-byte fingerprint (the second differs from the first in 7 blocks, as
 *    an SSE4.1 render does), the completing reveal passes its peer's fingerprint;
 * Targets: <= 160,000 gas per settled segment at batch 16; Tolerant <= 1.3x Exact at batch 16;
 * createJob at 10,000 segments within 5% of 1 segment; claim(1) at 1,000,000 segments <= 1.2x
 * claim(1) on the fresh 1-segment job.
 * The figures are compared with the committed gas-snapshot.json: any figure more than 1 % above
 * its snapshot fails the run (a figure below it is reported). Exits 1 when a target is missed or
 * a figure regressed.
 * Usage: npm run bench:gas          (compare with gas-snapshot.json)
 *        npm run bench:gas:update   (rewrite gas-snapshot.json with this run's figures)
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse, Log } from "ethers";
import { network } from "hardhat";
import TessellateModule from "../ignition/modules/Tessellate.ts";
import { closeAllBut } from "./bench/claimBitmap.ts";
import { commitmentOf } from "../sdk/src/commitment.ts";
import type { JobMarket, ProviderRegistry, RenderToken } from "../types/ethers-contracts/index.ts";

const SEGMENTS = 64;
const BATCHES = [1, 16];
/** The bound the project holds exact mode to (issue 11: must not regress past 160,000). */
const TARGET_PER_SEGMENT = 160_000n;
const TARGET_CREATE_RATIO = 1.05;
const TARGET_CLAIM_RATIO = 1.2;
const TARGET_TOLERANT_RATIO = 1.3;
/** A figure more than this fraction above its snapshot is a regression. */
const REGRESSION_TOLERANCE = 0.01;
/**
 * A whole job's figures depend on where its claim tickets land, which the block hashes decide and
 * they differ run to run (measured: ±0.7 % exact, ±1.3 % tolerant at batch 16): 2.5 % for those.
 */
const SETTLED_JOB_TOLERANCE = 0.025;
/**
 * A claim on the last open segment of a large job costs one cold bitmap read per rejected draw
 * (the ticket's draw over free slots, up to MAX_DRAW_ATTEMPTS, then the scan), and how many are
 * rejected is the block hash's doing (measured 198.9k–204.5k at 10,000 segments): 3 % for those.
 */
const DRAWN_CLAIM_TOLERANCE = 0.03;
const toleranceOf = (name: string) =>
  name.startsWith("settledSegment") ? SETTLED_JOB_TOLERANCE : name.startsWith("claim1Last") ? DRAWN_CLAIM_TOLERANCE : REGRESSION_TOLERANCE;
const SNAPSHOT_FILE = join(import.meta.dirname, "..", "gas-snapshot.json");
const UPDATE = process.env.GAS_SNAPSHOT_UPDATE === "1";


const { ethers, ignition, networkHelpers } = await network.create();

interface Protocol {
  token: RenderToken;
  registry: ProviderRegistry;
  market: JobMarket;
  requester: HardhatEthersSigner;
  providers: HardhatEthersSigner[];
  treasury: HardhatEthersSigner;
}

async function deploy(): Promise<Protocol> {
  const { token, registry, market } = (await ignition.deploy(TessellateModule, {
    parameters: { Tessellate: { unbondingDelay: 3600n, feeBps: 100n } },
  })) as unknown as { token: RenderToken; registry: ProviderRegistry; market: JobMarket };
  const [treasury, requester, ...rest] = await ethers.getSigners();
  const providers = rest.slice(0, 2);
  await token.transfer(requester.address, 10n ** 27n / 2n);
  await token.connect(requester).approve(market.target, ethers.MaxUint256);
  for (const p of providers) {
    await token.transfer(p.address, 100_000n * 10n ** 18n);
    await token.connect(p).approve(registry.target, ethers.MaxUint256);
    await registry.connect(p).register("bafyprofile");
    await registry.connect(p).stake(100_000n * 10n ** 18n);
  }
  return { token, registry, market, requester, providers, treasury };
}

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await tx).wait();
  return receipt!.gasUsed;
}

async function jobParams(segmentCount: number, redundancy = 2, tolerant = false) {
  const now = await networkHelpers.time.latest();
  return {
    manifestCid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    segmentCount,
    redundancy,
    quorum: redundancy,
    rewardPerReplica: 10n ** 18n,
    collateralPerReplica: 2n * 10n ** 18n,
    leaseDuration: 3600,
    revealWindow: 3600,
    deadline: now + 86_400,
    minReputation: 0,
    maxFeeBps: 100,
    verification: tolerant ? 1 : 0,
    toleranceBps: tolerant ? 2_500 : 0,
    auditBps: 0,
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A pseudo-random 256-byte fingerprint of a segment; `changed` blocks differ (another CPU's render). */
function fingerprint(segment: number, changed: number): string {
  const bytes = new Uint8Array(256);
  for (let w = 0; w < 8; w++) bytes.set(ethers.getBytes(ethers.keccak256(ethers.toUtf8Bytes(`fp:${segment}:${w}`))), w * 32);
  for (let i = 0; i < changed; i++) bytes[i * 31] ^= 0x01;
  return ethers.hexlify(bytes);
}

/** Runs one whole r=2 job with every provider batching `batch` slots per transaction. */
async function settledJobGas(p: Protocol, batch: number, tolerant = false, interleaved = true) {
  let total = 0n;
  const phases: Record<string, bigint> = {};
  const mark = (name: string, before: bigint) => { phases[name] = (phases[name] ?? 0n) + total - before; };
  const created = await (await p.market.connect(p.requester).createJob(await jobParams(SEGMENTS, 2, tolerant))).wait();
  total += created!.gasUsed;
  const jobId = (await p.market.jobCount()) as bigint;
  const held = new Map<HardhatEthersSigner, { segment: number; replica: number }[]>();
  let before = total;
  for (const provider of p.providers) held.set(provider, []);
  const record = (logs: readonly Log[]) => {
    for (const log of logs) {
      const parsed = p.market.interface.parseLog(log);
      if (parsed?.name !== "ReplicasClaimed") continue;
      const who = p.providers.find((x) => x.address === parsed.args.provider)!;
      for (const packed of parsed.args.slots as bigint[]) held.get(who)!.push({ segment: Number(packed >> 8n), replica: Number(packed & 0xffn) });
    }
  };
  const waiting = async () => (await p.market.claimQueueOf(jobId))[2].length;
  if (interleaved) {
    // Claimers take turns: each request resolves the ticket before it in passing (FIFO), so only
    // the last ticket needs a resolveClaims of its own. A claimer asks for what its waiting
    // tickets do not already cover (no surplus ticket that would lapse unfilled).
    const requested = new Map(p.providers.map((who) => [who, 0]));
    while (p.providers.some((who) => held.get(who)!.length < SEGMENTS)) {
      for (const provider of p.providers) {
        if (requested.get(provider)! + batch > SEGMENTS) continue;
        const receipt = await (await p.market.connect(provider).requestClaim(jobId, batch)).wait();
        requested.set(provider, requested.get(provider)! + batch);
        total += receipt!.gasUsed;
        record(receipt!.logs);
      }
      if (p.providers.every((who) => requested.get(who)! + batch > SEGMENTS)) {
        while ((await waiting()) > 0) {
          const receipt = await (await p.market.connect(p.providers[0]).resolveClaims(jobId)).wait();
          total += receipt!.gasUsed;
          record(receipt!.logs);
        }
      }
    }
  } else {
    for (const provider of p.providers) {
      while (held.get(provider)!.length < SEGMENTS) {
        // A lone claimer: the request, then its own resolution in the next block.
        const request = await (await p.market.connect(provider).requestClaim(jobId, batch)).wait();
        const receipt = await (await p.market.connect(provider).resolveClaims(jobId)).wait();
        total += request!.gasUsed + receipt!.gasUsed;
        record([...request!.logs, ...receipt!.logs]);
      }
    }
  }
  for (const [who, slots] of held) if (slots.length !== SEGMENTS) throw new Error(`${who.address} holds ${slots.length} slots, not ${SEGMENTS}`);
  mark('claims', before); before = total;
  // Tolerant: the two providers' pixels differ a little (their digests differ), their fingerprints in 7 blocks.
  const [first, second] = p.providers;
  const digest = (segment: number, who = first) => ethers.keccak256(ethers.toUtf8Bytes(`pixels:${segment}${tolerant && who === second ? ":sse41" : ""}`));
  const fp = (segment: number, who: HardhatEthersSigner) => (tolerant ? fingerprint(segment, who === second ? 7 : 0) : "0x");
  const salt = ethers.keccak256(ethers.toUtf8Bytes("salt"));
  // The first provider commits; the second finds every other slot sealed and reveals directly,
  // which opens the reveal window; then the first reveals and settles.
  const replicaOf = new Map<string, number>();
  for (const [who, slots] of held) for (const s of slots) replicaOf.set(`${who.address}:${s.segment}`, s.replica);
  for (const group of chunks(held.get(first)!, batch)) {
    const commits = group.map((s) => ({
      ...s,
      commitment: commitmentOf(digest(s.segment) as `0x${string}`, salt as `0x${string}`, first.address as `0x${string}`, jobId, s.segment, tolerant ? (fp(s.segment, first) as `0x${string}`) : undefined),
    }));
    total += await gasOf(p.market.connect(first).commit(jobId, commits));
  }
  mark('commits', before); before = total;
  for (const provider of [second, first]) {
    for (const group of chunks(held.get(provider)!, batch)) {
      const reveals = group.map((s) => {
        // The completing (first's) reveal passes the second's fingerprint at the second's slot.
        const peerFingerprints: string[] = [];
        if (tolerant && provider === first) {
          const k = replicaOf.get(`${second.address}:${s.segment}`)!;
          for (let i = 0; i <= k; i++) peerFingerprints.push(i === k ? fp(s.segment, second) : "0x");
        }
        return {
          ...s,
          digest: digest(s.segment, provider),
          salt,
          resultCid: "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
          fingerprint: fp(s.segment, provider),
          peerFingerprints,
        };
      });
      total += await gasOf(p.market.connect(provider).reveal(jobId, reveals));
    }
  }
  mark('reveals', before); before = total;
  for (const who of [...p.providers, p.treasury]) total += await gasOf(p.market.connect(who).withdraw());
  mark('withdraws', before);
  if (process.env.BENCH_PHASES) console.log(batch, Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number(v / BigInt(SEGMENTS))])));
  const job = await p.market.jobOf(jobId);
  if (job.escrow !== 0n) throw new Error(`job ${jobId} did not settle completely: escrow ${job.escrow} left`);
  return total;
}

/** Creates an r=1 job of `segments` segments and marks all but the last closed in the bitmaps. */
async function jobWithOnlyLastOpen(p: Protocol, segments: number): Promise<bigint> {
  await (await p.market.connect(p.requester).createJob(await jobParams(segments, 1))).wait();
  const jobId = (await p.market.jobCount()) as bigint;
  await closeAllBut(networkHelpers, p.market.target as string, jobId, segments, [segments - 1]);
  return jobId;
}

/** Gas of one claim(1) by the first provider (request + resolution); checks the segment it landed on. */
async function claimGas(p: Protocol, jobId: bigint, expectedSegment: number): Promise<bigint> {
  const request = await (await p.market.connect(p.providers[0]).requestClaim(jobId, 1)).wait();
  const receipt = await (await p.market.connect(p.providers[0]).resolveClaims(jobId)).wait();
  for (const log of receipt!.logs) {
    const parsed = p.market.interface.parseLog(log);
    if (parsed?.name !== "ReplicasClaimed") continue;
    const segment = Number((parsed.args.slots as bigint[])[0] >> 8n);
    if (segment !== expectedSegment) throw new Error(`claim landed on segment ${segment}, not ${expectedSegment}: are the bitmap storage slots right?`);
  }
  return request!.gasUsed + receipt!.gasUsed;
}

/** Compares this run's figures with the snapshot (or rewrites it); returns the regressions. */
function checkSnapshot(figures: Record<string, number>): string[] {
  if (UPDATE || !existsSync(SNAPSHOT_FILE)) {
    writeFileSync(SNAPSHOT_FILE, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`\nWrote ${SNAPSHOT_FILE}.`);
    return [];
  }
  const snapshot: Record<string, number> = JSON.parse(readFileSync(SNAPSHOT_FILE, "utf8"));
  const regressions: string[] = [];
  console.log("\nAgainst gas-snapshot.json:");
  for (const [name, value] of Object.entries(figures)) {
    const before = snapshot[name];
    if (before === undefined) {
      regressions.push(`${name}: not in gas-snapshot.json (run npm run bench:gas:update and commit it)`);
      continue;
    }
    const change = (value - before) / before;
    console.log(`  ${name.padEnd(34)} ${before.toLocaleString("en-US").padStart(12)} -> ${value.toLocaleString("en-US").padStart(12)}  (${(change * 100).toFixed(2)} %)`);
    if (change > toleranceOf(name)) regressions.push(`${name}: ${value} is ${(change * 100).toFixed(2)} % above the snapshot's ${before}`);
  }
  for (const name of Object.keys(snapshot)) if (!(name in figures)) regressions.push(`${name}: in gas-snapshot.json but no longer measured (run npm run bench:gas:update)`);
  return regressions;
}

async function main() {
  const protocol = await deploy();
  console.log(`Gas benchmark — ${SEGMENTS}-segment job, r=2, q=2, two providers, every transaction counted\n`);
  const rows: [string, string][] = [];
  let perSegmentAt16 = 0n;
  let perSegmentAt1 = 0n;
  for (const batch of BATCHES) {
    const total = await settledJobGas(protocol, batch);
    const perSegment = total / BigInt(SEGMENTS);
    if (batch === 16) perSegmentAt16 = perSegment;
    if (batch === 1) perSegmentAt1 = perSegment;
    rows.push([`gas per settled segment, batch ${batch}`, `${perSegment.toLocaleString("en-US")} (job total ${total.toLocaleString("en-US")})`]);
  }
  const loneAt16 = (await settledJobGas(protocol, 16, false, false)) / BigInt(SEGMENTS);
  rows.push(["gas per settled segment, batch 16, each claimer resolving its own tickets", `${loneAt16.toLocaleString("en-US")} (+${(loneAt16 - perSegmentAt16).toLocaleString("en-US")}: one resolveClaims per claim)`]);
  const tolerantAt16 = (await settledJobGas(protocol, 16, true)) / BigInt(SEGMENTS);
  const tolerantRatio = Number(tolerantAt16) / Number(perSegmentAt16);
  rows.push(["gas per settled segment, Tolerant, batch 16", `${tolerantAt16.toLocaleString("en-US")} (ratio to Exact ${tolerantRatio.toFixed(4)})`]);
  // Both from the same state, so neither pays for first writes the other found done.
  const snapshot = await networkHelpers.takeSnapshot();
  const createSmall = await gasOf(protocol.market.connect(protocol.requester).createJob(await jobParams(1)));
  await snapshot.restore();
  const createLarge = await gasOf(protocol.market.connect(protocol.requester).createJob(await jobParams(10_000)));
  const ratio = Number(createLarge) / Number(createSmall);
  rows.push(["createJob gas, 1 segment", createSmall.toLocaleString("en-US")]);
  rows.push(["createJob gas, 10,000 segments", `${createLarge.toLocaleString("en-US")} (ratio ${ratio.toFixed(4)})`]);
  await snapshot.restore();
  const claimFresh = await claimGas(protocol, await jobWithOnlyLastOpen(protocol, 1), 0);
  await snapshot.restore();
  const claim10k = await claimGas(protocol, await jobWithOnlyLastOpen(protocol, 10_000), 9_999);
  await snapshot.restore();
  const claim1m = await claimGas(protocol, await jobWithOnlyLastOpen(protocol, 1_000_000), 999_999);
  const claimRatio = Number(claim1m) / Number(claimFresh);
  rows.push(["claim(1) gas, fresh 1-segment job", claimFresh.toLocaleString("en-US")]);
  rows.push(["claim(1) gas, 10,000 segments, last open", `${claim10k.toLocaleString("en-US")} (ratio ${(Number(claim10k) / Number(claimFresh)).toFixed(4)})`]);
  rows.push(["claim(1) gas, 1,000,000 segments, last open", `${claim1m.toLocaleString("en-US")} (ratio ${claimRatio.toFixed(4)})`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);

  const misses: string[] = [];
  if (perSegmentAt16 > TARGET_PER_SEGMENT) misses.push(`per-segment gas at batch 16 is ${perSegmentAt16} > ${TARGET_PER_SEGMENT}`);
  if (tolerantRatio > TARGET_TOLERANT_RATIO) misses.push(`Tolerant per-segment gas at batch 16 is ${tolerantRatio.toFixed(4)}x Exact > ${TARGET_TOLERANT_RATIO}`);
  if (ratio > TARGET_CREATE_RATIO) misses.push(`createJob at 10,000 segments is ${ratio.toFixed(4)}x the 1-segment cost > ${TARGET_CREATE_RATIO}`);
  if (claimRatio > TARGET_CLAIM_RATIO) misses.push(`claim(1) at 1,000,000 segments is ${claimRatio.toFixed(4)}x the fresh 1-segment claim > ${TARGET_CLAIM_RATIO}`);
  console.log(`\nTargets: <= ${TARGET_PER_SEGMENT.toLocaleString("en-US")} gas per settled segment at batch 16; Tolerant <= ${TARGET_TOLERANT_RATIO}x Exact; createJob(10,000) within 5% of createJob(1); claim(1) at 1,000,000 segments <= ${TARGET_CLAIM_RATIO}x claim(1) on a fresh 1-segment job.`);
  console.log(misses.length === 0 ? "All targets met." : `Missed:\n  ${misses.join("\n  ")}`);
  const regressions = checkSnapshot({
    settledSegmentBatch1: Number(perSegmentAt1),
    settledSegmentBatch16: Number(perSegmentAt16),
    settledSegmentBatch16LoneClaimer: Number(loneAt16),
    settledSegmentTolerantBatch16: Number(tolerantAt16),
    createJob1Segment: Number(createSmall),
    createJob10kSegments: Number(createLarge),
    claim1FreshJob: Number(claimFresh),
    claim1Last10kSegments: Number(claim10k),
    claim1Last1mSegments: Number(claim1m),
  });
  if (regressions.length > 0) console.log(`Regressions (over ${REGRESSION_TOLERANCE * 100} %, ${SETTLED_JOB_TOLERANCE * 100} % for whole jobs, ${DRAWN_CLAIM_TOLERANCE * 100} % for drawn claims):\n  ${regressions.join("\n  ")}`);
  if (misses.length > 0 || regressions.length > 0) process.exitCode = 1;
}

await main();
