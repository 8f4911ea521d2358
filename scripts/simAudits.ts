/**
 * Audit simulation (issue 10 properties 4 and 5; docs/collusion.md §4 and §5): the expected profit
 * of cheating when accepted results are audited, measured on the real contracts (the project's
 * Ignition deployment on Hardhat's in-process chain, like scripts/simCollusion.ts).
 *
 * N provider addresses with equal stake; the operator owns round(f · N) of them. Each row posts
 * audited Exact jobs (quorum = redundancy r, `auditBps` a, collateral m × reward) and runs them:
 *  1. claiming: every slot is taken through claim tickets (one slot per request, from an address
 *     picked uniformly among those that can still take a slot; a ticket resolves in passing at
 *     the next request, the uniform draw decides where it lands);
 *  2. rendering: on a segment where the operator's addresses hold every original replica (it is
 *     captured) they commit and reveal the same garbage (it saved the render); everyone else, and
 *     the operator elsewhere, renders honestly. The quorum leaves every segment Verifying;
 *  3. the draw: in the next block anyone calls `auditSegments` (each segment is audited with
 *     probability a, from the quorum block's hash); not audited, it is accepted and paid;
 *  4. audits: the audit slots are claimed through tickets like any slot, by whoever the tickets
 *     draw (requests go on until every slot is held; the contract refuses an address a second slot
 *     of a segment). An operator address auditing a captured segment reveals the same garbage
 *     (colluding), otherwise honestly. A disagreeing auditor opens two escalation slots, claimed
 *     the same way; both escalation auditors commit, then reveal; two of the three auditors decide.
 * Per captured segment the script reads what the contract did: paid (SegmentAccepted's agreeing
 * mask holds the original replicas: reward each) or slashed (ReplicaRejected), and checks its
 * books against the operator's market balance and registry stake after every job.
 *
 * Prints, per f and r: captured segments out of n = jobs × segments (the sample size), audited,
 * caught (garbage replicas slashed), garbage accepted, and the operator's expected profit of
 * cheating per captured segment and replica: (what its cheating replicas were paid − collateral
 * they lost) / r − what they would have earned honestly (reward − C, render cost C = reward by
 * default, the worst case), with its 95 % interval; next to the model
 * C − a (1 − f)(1 − f²)(reward + collateral) (a catch needs an honest auditor and at least one
 * honest escalation auditor, each drawn from a pool where the operator has share f) and the same
 * model on the finite pool the tickets draw from (N − r addresses may audit, k − r of them the
 * operator's). Then whether every row's measured expected profit is negative.
 *
 * Usage: npm run sim:audits
 * Options (environment): SIM_PROVIDERS (N, default 10), SIM_SHARES ("0.1,0.2,0.33"),
 * SIM_REDUNDANCIES ("1,2"), SIM_AUDIT_BPS (the tools' default, 4000), SIM_COLLATERAL_MULTIPLE (m, the tools' default for audited jobs, 4),
 * SIM_RENDER_COST (C in rewards, 1), SIM_SEGMENTS (per job, 64), SIM_JOBS (per row, 30; the default run takes about 5 minutes on two loaded cores),
 * SIM_SEED (1), SIM_STRICT=1 (exit 1 when a row's measured expected profit is not negative; a row
 * with no captured segment has no measurement and counts as not negative: raise SIM_JOBS),
 * SIM_STRATEGIES ("uniform,racer"): uniform — the operator's addresses claim like everyone; racer —
 * before anyone else draws, one of its addresses that holds no replica of a captured segment draws
 * that segment's audit and requests a one-slot ticket in the same block (docs/collusion.md §4,
 * racing for the audit slot: found, not fixed — its rows are positive, so SIM_STRICT=1 exits 1 on
 * the default run).
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Hex } from "viem";
import { z } from "zod";
import { network } from "hardhat";
import { commitmentOf } from "../sdk/src/commitment.ts";
import { DEFAULT_AUDIT_BPS, DEFAULT_AUDITED_COLLATERAL_MULTIPLE } from "../sdk/src/jobRequest.ts";
import { roundDigest } from "../sdk/src/protocol/digestChain.ts";
import { type SlotRef, unpackSlots } from "../sdk/src/protocol/slots.ts";
import { type Market, deployMarket, generator, progress, stakedClaimers, table, configOrExit, postSimJob } from "./sim/harness.ts";

const UNIT = 10n ** 18n;
const REWARD = UNIT;
const STAKE = 1_000_000n * UNIT;

const numbers = z.string().transform((s) => s.split(",").map((x) => Number(x.trim())));
const Config = z.object({
  providers: z.coerce.number().int().min(4).max(200).default(10),
  shares: numbers.pipe(z.array(z.number().gt(0).lt(1)).min(1)).default([0.1, 0.2, 0.33]),
  redundancies: numbers.pipe(z.array(z.number().int().min(1).max(2)).min(1)).default([1, 2]),
  auditBps: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_AUDIT_BPS),
  collateralMultiple: z.coerce.number().min(2).default(DEFAULT_AUDITED_COLLATERAL_MULTIPLE),
  renderCost: z.coerce.number().min(0).max(1).default(1),
  segments: z.coerce.number().int().min(1).max(256).default(64),
  jobs: z.coerce.number().int().min(1).default(30),
  seed: z.coerce.number().int().default(1),
  strict: z.enum(["0", "1"]).default("0").transform((s) => s === "1"),
  strategies: z.string().transform((s) => s.split(",").map((x) => x.trim())).pipe(z.array(z.enum(["uniform", "racer"])).min(1)).default(["uniform", "racer"]),
});
const parsed = Config.safeParse({
  providers: process.env.SIM_PROVIDERS,
  shares: process.env.SIM_SHARES,
  redundancies: process.env.SIM_REDUNDANCIES,
  auditBps: process.env.SIM_AUDIT_BPS,
  collateralMultiple: process.env.SIM_COLLATERAL_MULTIPLE,
  renderCost: process.env.SIM_RENDER_COST,
  segments: process.env.SIM_SEGMENTS,
  jobs: process.env.SIM_JOBS,
  seed: process.env.SIM_SEED,
  strict: process.env.SIM_STRICT,
  strategies: process.env.SIM_STRATEGIES,
});
const config = configOrExit(parsed, "scripts/simAudits.ts");
/** Collateral per replica in token units (m × reward, m may be fractional). */
const COLLATERAL = (REWARD * BigInt(Math.round(config.collateralMultiple * 1_000))) / 1_000n;
const tokens = (x: bigint) => Number(x) / Number(UNIT);

const connection = await network.create();
const { ethers, networkHelpers } = connection;
const random = generator(config.seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

/** Per segment, what happened to a captured one (the operator held every original replica). */
interface CapturedOutcome {
  audited: boolean;
  disputed: boolean;
  /** The original (cheating) replicas' garbage was accepted: they were paid. */
  accepted: boolean;
  /** Collateral the original replicas lost (ReplicaRejected). */
  lost: bigint;
  /** Reward paid to the original replicas. */
  paid: bigint;
}

interface JobOutcome {
  captured: CapturedOutcome[];
  /** Audits of segments the operator did not capture (they only cost the operator's audit slots nothing). */
  auditedOther: number;
  /** Honest auditors slashed on captured segments (the operator's escalation auditors out-voted one). */
  honestAuditorsSlashed: number;
  /** What the operator's colluding auditors earned net on captured segments (reward − collateral lost). */
  colludingAuditorNet: bigint;
  blocks: number;
}

/** How many of the N addresses the operator owns at share f. */
const operatorSize = (share: number) => Math.max(1, Math.round(share * config.providers));

type Strategy = "uniform" | "racer";

async function runJob(m: Market, claimers: HardhatEthersSigner[], k: number, redundancy: number, strategy: Strategy): Promise<JobOutcome> {
  const { market, registry } = m;
  const S = config.segments;
  const startBlock = await ethers.provider.getBlockNumber();
  const now = await networkHelpers.time.latest();
  const jobId = await postSimJob(m, now, { manifestCid: "bafysimaudits", segmentCount: S, redundancy, quorum: redundancy, reward: REWARD, collateral: COLLATERAL, auditBps: config.auditBps });
  const addressOf = (s: HardhatEthersSigner) => s.address.toLowerCase();
  const isOperator = new Set(claimers.slice(0, k).map(addressOf));
  const byAddress = new Map(claimers.map((c) => [addressOf(c), c]));
  const operators = claimers.slice(0, k);
  const balanceBefore = await Promise.all(operators.map((o) => market.balanceOf(o.address)));
  const stakeBefore = await Promise.all(operators.map(async (o) => (await registry.providerOf(o.address)).staked));

  /** Per segment, slot index -> holder (lower-case address). */
  const holders: Map<number, string>[] = Array.from({ length: S }, () => new Map());
  /** Per segment, how many slots it has now (r, then 1 audit slot, then 2 escalation slots). */
  const slotCount = Array.from({ length: S }, () => redundancy);
  let pending = 0;
  const events = (receipt: { logs: readonly { topics: readonly string[]; data: string }[] } | null) =>
    receipt!.logs.map((log) => market.interface.parseLog(log)).filter((e) => e !== null && (!e.fragment.inputs.some((i) => i.name === "jobId") || e.args.jobId === jobId));
  /** Book-keeping of every receipt: tickets queued and resolved, slots claimed. */
  const absorb = (receipt: Parameters<typeof events>[0]) => {
    const out = events(receipt);
    for (const e of out) {
      if (e!.name === "ClaimRequested") pending++;
      if (e!.name === "ClaimLapsed") pending--;
      if (e!.name === "ReplicasClaimed") {
        pending--;
        for (const s of unpackSlots(e!.args.slots as bigint[])) holders[s.segment].set(s.replica, String(e!.args.provider).toLowerCase());
      }
    }
    return out;
  };

  /** Claims every free slot of `segments` through one-slot tickets from uniformly picked able addresses. */
  const claimAll = async (segments: number[]) => {
    const free = () => segments.filter((s) => holders[s].size < slotCount[s]);
    for (let open = free(); open.length > 0; open = free()) {
      const able = claimers.filter((c) => open.some((s) => ![...holders[s].values()].includes(addressOf(c))));
      if (able.length === 0) throw new Error(`no address may take the free slots of segments ${open.join(",")}`);
      absorb(await (await market.connect(pick(able)).requestClaim(jobId, 1)).wait());
    }
    while (pending > 0) absorb(await (await market.connect(m.requester).resolveClaims(jobId)).wait());
  };

  // 1. Claiming the original replicas.
  await claimAll([...Array(S).keys()]);
  const captured = new Set([...Array(S).keys()].filter((s) => [...holders[s].values()].every((a) => isOperator.has(a))));
  /** What `address` reveals on `segment`: garbage where the operator captured it, pixels otherwise. */
  const pixels = (address: string, segment: number) =>
    ethers.keccak256(ethers.toUtf8Bytes(`${isOperator.has(address) && captured.has(segment) ? "garbage" : "pixels"}:${segment}`)) as Hex;
  const salt = (address: string, s: SlotRef) => ethers.keccak256(ethers.toUtf8Bytes(`salt:${address}:${s.segment}:${s.replica}`)) as Hex;

  /** Every holder of slots `from`.. of `segments` commits (one transaction per address), then every one reveals. */
  const renderSlots = async (segments: number[], from: (s: number) => number) => {
    const round = new Map<number, number>();
    for (const s of segments) round.set(s, Number((await market.segmentOf(jobId, s)).round));
    const work = new Map<string, SlotRef[]>();
    for (const s of segments) {
      for (const [replica, address] of holders[s]) if (replica >= from(s)) work.set(address, [...(work.get(address) ?? []), { segment: s, replica }]);
    }
    const link = (address: string, s: SlotRef) => roundDigest(pixels(address, s.segment), round.get(s.segment)!);
    for (const [address, slots] of work) {
      const commits = slots.map((s) => ({ ...s, commitment: commitmentOf(link(address, s), salt(address, s), byAddress.get(address)!.address as Hex, jobId, s.segment) }));
      await (await market.connect(byAddress.get(address)!).commit(jobId, commits)).wait();
    }
    const out = [];
    for (const [address, slots] of work) {
      const reveals = slots.map((s) => ({ ...s, digest: link(address, s), salt: salt(address, s), resultCid: "bafysimresult", fingerprint: "0x", peerFingerprints: [] }));
      out.push(...events(await (await market.connect(byAddress.get(address)!).reveal(jobId, reveals)).wait()));
    }
    return out;
  };

  const outcome = new Map<number, CapturedOutcome>([...captured].map((s) => [s, { audited: false, disputed: false, accepted: false, lost: 0n, paid: 0n }]));
  let auditedOther = 0;
  let honestAuditorsSlashed = 0;
  let colludingAuditorNet = 0n;
  let accepted = 0;
  const settle = (all: ReturnType<typeof events>) => {
    for (const e of all) {
      const segment = Number(e!.args.segment);
      const c = outcome.get(segment);
      if (e!.name === "AuditOpened") {
        slotCount[segment] = Number(e!.args.slot) + 1;
        if (c) c.audited = true;
        else auditedOther++;
      }
      if (e!.name === "AuditDisputed") {
        slotCount[segment] = Number(e!.args.slots);
        if (c) c.disputed = true;
      }
      if (e!.name === "SegmentFailed") throw new Error(`segment ${segment} failed: two digests only, so two auditors always agree`);
      if (e!.name === "SegmentAccepted") {
        accepted++;
        const mask = Number(e!.args.agreeing);
        if (!c) continue;
        for (let replica = 0; replica < slotCount[segment]; replica++) {
          if (!(mask & (1 << replica))) continue;
          if (replica < redundancy) {
            c.accepted = true;
            c.paid += REWARD;
          } else if (isOperator.has(holders[segment].get(replica)!)) colludingAuditorNet += REWARD;
        }
      }
      if (e!.name === "ReplicaRejected" && !c) throw new Error(`segment ${segment}: a replica was slashed where everyone rendered honestly`);
      if (e!.name === "ReplicaRejected" && c) {
        const replica = Number(e!.args.replica);
        if (replica < redundancy) c.lost += e!.args.slashed as bigint;
        else if (isOperator.has(String(e!.args.provider).toLowerCase())) colludingAuditorNet -= e!.args.slashed as bigint;
        else honestAuditorsSlashed++;
      }
    }
  };

  // 2. Rendering: the quorum leaves every segment Verifying.
  const all = [...Array(S).keys()];
  const verifying = (await renderSlots(all, () => 0)).filter((e) => e!.name === "SegmentVerifying").length;
  if (verifying !== S) throw new Error(`${verifying} of ${S} segments Verifying after the reveals`);
  // 2b. The racer: for each captured segment, before anyone else draws, one of its addresses that
  // holds no replica of it draws that segment's audit and requests a one-slot ticket in the same
  // block, after the draw. Every other segment is still Verifying, so the audit slot is the job's
  // only open pair and the racer's ticket, first in the queue, lands on it (a ticket that finds
  // nothing open lapses at no cost).
  const raced = new Set<number>();
  if (strategy === "racer") {
    for (const segment of [...captured].sort((x, y) => x - y)) {
      const accomplice = operators.find((o) => ![...holders[segment].values()].includes(addressOf(o)));
      if (!accomplice) continue;
      raced.add(segment);
      await ethers.provider.send("evm_setAutomine", [false]);
      const draw = await market.connect(accomplice).auditSegments(jobId, [segment], { gasLimit: 3_000_000 });
      const ticket = await market.connect(accomplice).requestClaim(jobId, 1, { gasLimit: 1_000_000 });
      await ethers.provider.send("evm_mine", []);
      await ethers.provider.send("evm_setAutomine", [true]);
      const drawn = await draw.wait();
      const requested = await ticket.wait();
      if (drawn!.blockNumber !== requested!.blockNumber) throw new Error("the racer's draw and ticket landed in different blocks");
      settle(absorb(drawn));
      absorb(requested);
      while (pending > 0) absorb(await (await market.connect(m.requester).resolveClaims(jobId)).wait());
      if (holders[segment].size === slotCount[segment] && slotCount[segment] > redundancy) settle(await renderSlots([segment], () => redundancy));
    }
  }
  // 3. The draw, in the next block.
  const undrawn = all.filter((s) => !raced.has(s));
  if (undrawn.length > 0) settle(events(await (await market.connect(m.requester).auditSegments(jobId, undrawn)).wait()));
  // 4. Audits, then escalations (a segment's slots beyond those already held are claimed, then rendered).
  for (let step = 0; step < 2; step++) {
    const open = all.filter((s) => holders[s].size < slotCount[s]);
    if (open.length === 0) break;
    const firstNew = new Map(open.map((s) => [s, holders[s].size]));
    await claimAll(open);
    settle(await renderSlots(open, (s) => firstNew.get(s)!));
  }
  if (accepted !== S) throw new Error(`${accepted} of ${S} segments accepted at the end of the job`);

  // The books: the operator's balance and stake moved exactly as the events say.
  let expectedPaid = 0n;
  let expectedLost = 0n;
  const books = events(
    { logs: (await ethers.provider.getLogs({ address: market.target as string, fromBlock: startBlock + 1, toBlock: "latest" })) as never },
  );
  for (const e of books) {
    if (e!.name === "SegmentAccepted") {
      const segment = Number(e!.args.segment);
      for (const [replica, address] of holders[segment]) if (Number(e!.args.agreeing) & (1 << replica) && isOperator.has(address)) expectedPaid += REWARD;
    }
    if (e!.name === "ReplicaRejected" && isOperator.has(String(e!.args.provider).toLowerCase())) expectedLost += e!.args.slashed as bigint;
  }
  const balanceAfter = await Promise.all(operators.map((o) => market.balanceOf(o.address)));
  const stakeAfter = await Promise.all(operators.map(async (o) => (await registry.providerOf(o.address)).staked));
  const paid = balanceAfter.reduce((sum, b, i) => sum + b - balanceBefore[i], 0n);
  const lost = stakeAfter.reduce((sum, b, i) => sum + stakeBefore[i] - b, 0n);
  if (paid !== expectedPaid || lost !== expectedLost) {
    throw new Error(`books disagree: the operator was paid ${paid} (events say ${expectedPaid}) and lost ${lost} of stake (events say ${expectedLost})`);
  }
  return { captured: [...outcome.values()], auditedOther, honestAuditorsSlashed, colludingAuditorNet, blocks: (await ethers.provider.getBlockNumber()) - startBlock };
}

interface Row {
  strategy: Strategy;
  share: number;
  f: number;
  redundancy: number;
  k: number;
  segments: number;
  captured: number;
  audited: number;
  caught: number;
  garbageAccepted: number;
  auditedOther: number;
  honestAuditorsSlashed: number;
  colludingAuditorNet: number;
  /** Measured expected profit of cheating per captured segment and replica, in rewards; its 95 % interval. */
  profit: number;
  profitLow: number;
  profitHigh: number;
  model: number;
  finiteModel: number;
}

/** The model's catch probability: an honest auditor, then at least one honest escalation auditor. */
const catchModel = (a: number, f: number) => a * (1 - f) * (1 - f * f);
/** The same on the finite pool: N − r addresses may audit (k − r the operator's), then N − r − 1 for two escalation slots. */
function finiteCatch(a: number, n: number, k: number, r: number): number {
  const pool = n - r;
  const colluders = k - r;
  const honestAuditor = (pool - colluders) / pool;
  const both = pool - 1 >= 2 ? (colluders * (colluders - 1)) / ((pool - 1) * (pool - 2)) : 0;
  return a * honestAuditor * (1 - both);
}

async function main() {
  const started = Date.now();
  const a = config.auditBps / 10_000;
  const mult = tokens(COLLATERAL);
  const C = config.renderCost;
  console.log(
    `Audit simulation — real contracts on the in-process chain; N = ${config.providers} provider addresses (equal stake), ` +
      `${config.segments}-segment audited Exact jobs (q = r), auditBps ${config.auditBps}, reward 1 token, collateral ${mult} tokens (m = ${mult}), ` +
      `render cost C = ${C} reward, ${config.jobs} job(s) per row, seed ${config.seed}\n`,
  );
  const m = await deployMarket(connection);
  const claimers = await stakedClaimers(connection, m, config.providers, STAKE);
  progress("");
  const rows: Row[] = [];
  for (const strategy of config.strategies) for (const redundancy of config.redundancies) {
    for (const share of config.shares) {
      const k = operatorSize(share);
      if (k < redundancy) {
        if (strategy === config.strategies[0]) console.log(`f=${share}, r=${redundancy}: the operator's ${k} address(es) cannot hold ${redundancy} replicas of a segment; skipped`);
        continue;
      }
      if (strategy === "racer" && k < redundancy + 1) {
        console.log(`f=${share}, r=${redundancy}, racer: the operator's ${k} address(es) leave none that holds no replica to race for the audit slot; skipped`);
        continue;
      }
      const captured: CapturedOutcome[] = [];
      let auditedOther = 0, honestAuditorsSlashed = 0, colludingAuditorNet = 0n;
      for (let j = 0; j < config.jobs; j++) {
        progress(`  f=${share}, r=${redundancy}, ${strategy}: job ${j + 1}/${config.jobs}`);
        const o = await runJob(m, claimers, k, redundancy, strategy);
        captured.push(...o.captured);
        auditedOther += o.auditedOther;
        honestAuditorsSlashed += o.honestAuditorsSlashed;
        colludingAuditorNet += o.colludingAuditorNet;
      }
      const f = k / config.providers;
      // Per captured segment and replica, in rewards: paid − lost − (reward − C).
      const profits = captured.map((c) => tokens(c.paid - c.lost) / redundancy - (1 - C));
      const n = profits.length;
      const mean = n > 0 ? profits.reduce((x, y) => x + y, 0) / n : NaN;
      const sd = n > 1 ? Math.sqrt(profits.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1)) : NaN;
      const half = (1.96 * sd) / Math.sqrt(n);
      rows.push({
        strategy, share, f, redundancy, k,
        segments: config.jobs * config.segments,
        captured: n,
        audited: captured.filter((c) => c.audited).length,
        caught: captured.filter((c) => c.lost > 0n).length,
        garbageAccepted: captured.filter((c) => c.accepted).length,
        auditedOther, honestAuditorsSlashed,
        colludingAuditorNet: tokens(colludingAuditorNet),
        profit: mean, profitLow: mean - half, profitHigh: mean + half,
        model: C - catchModel(a, f) * (1 + mult),
        finiteModel: C - finiteCatch(a, config.providers, k, redundancy) * (1 + mult),
      });
    }
  }
  progress("");
  const sign = (x: number) => (Number.isNaN(x) ? "n/a" : `${x >= 0 ? "+" : ""}${x.toFixed(3)}`);
  table(
    ["f", "r", "op. addresses", "captured", "audited", "caught", "garbage accepted", "honest auditors slashed", "E[cheat profit]/replica", "95 % CI", "model", "model (N finite)", "strategy"],
    rows.map((r) => [
      r.share.toString(), r.redundancy.toString(), `${r.k}/${config.providers}`,
      `${r.captured}/${r.segments}`, r.audited.toString(), r.caught.toString(), r.garbageAccepted.toString(), r.honestAuditorsSlashed.toString(),
      sign(r.profit), r.captured > 1 ? `${sign(r.profitLow)} – ${sign(r.profitHigh)}` : "n/a", sign(r.model), sign(r.finiteModel), r.strategy,
    ]),
    3,
  );
  console.log(
    "\ncaptured: segments whose every original replica the operator held (it revealed the same garbage from all), out of n = jobs x segments;" +
      "\naudited: captured segments the draw audited; caught: captured segments whose garbage replicas were slashed; garbage accepted: captured segments that paid the garbage;" +
      "\nhonest auditors slashed: on captured segments, honest auditors out-voted by two colluding escalation auditors;" +
      "\nE[cheat profit]/replica (in rewards): mean over captured segments of (paid − collateral lost) / r − (reward − C), with its 95 % interval (normal approximation);" +
      `\nmodel: C − a (1 − f)(1 − f²)(reward + collateral), a = ${a}; model (N finite): the same with the draw's pool (N − r may audit, k − r of them the operator's).` +
      "\nstrategy: uniform — the operator's addresses claim like everyone (audit slots go to whoever the tickets draw); racer — it draws each captured" +
      "\nsegment's audit itself, with a ticket of its own in the same block (the audit slot is then the job's only open pair; docs/collusion.md §4, racing for the audit slot).",
  );
  const colluding = rows.reduce((x, r) => x + r.colludingAuditorNet, 0);
  const other = rows.reduce((x, r) => x + r.auditedOther, 0);
  console.log(`The operator's colluding auditors earned ${colluding.toFixed(0)} tokens net on captured segments in all rows; ${other} audits hit segments it did not capture.`);
  const notNegative = rows.filter((r) => !(r.profit < 0));
  console.log(
    `\nEvery row's measured expected profit of cheating negative: ${notNegative.length === 0 ? "yes" : "no"}` +
      (notNegative.length > 0 ? ` (${notNegative.map((r) => `f=${r.share} r=${r.redundancy} ${r.strategy}: ${r.captured === 0 ? "no captured segment, raise SIM_JOBS" : sign(r.profit)}`).join("; ")})` : "") +
      ` — ${rows.length} row(s); model negative in ${rows.filter((r) => r.model < 0).length} of them.`,
  );
  console.log(`Run time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (config.strict && notNegative.length > 0) process.exitCode = 1;
}

await main();
