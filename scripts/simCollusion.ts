/**
 * Collusion simulation (issue 10 property 5; docs/collusion.md §5): drives the real contracts,
 * deployed by the project's Ignition module on Hardhat's in-process chain, with N claimer
 * addresses of which a share f belongs to one operator, and measures how often the operator
 * ends up holding every replica of a segment — the precondition for a cheat nobody can see:
 * skip the render, reveal the same garbage from all replicas, be paid.
 *
 * Claims go through claim tickets (docs/collusion.md §1): `requestClaim` in one block queues a
 * ticket seeded by that block; the job's due tickets resolve first-in first-out in a later block,
 * in passing at the start of the next request or give-back, or by a keeper's `resolveClaims` in a
 * block with no request. The job's claiming runs block by block. In each block either an honest
 * address requests one slot (probability 1 − f) or the operator gains one claim of budget
 * (probability f), so that the operator has the share f of the claims an honest network makes.
 * What the operator does with its budget is the strategy (it has at most one ticket waiting):
 *  - random:          requests at once, one slot, like an honest provider;
 *  - claim-or-revert: its addresses are ClaimSteerer contracts (contracts/mocks, test-only) that
 *                     request one slot, resolve and revert unless it landed on a wanted segment,
 *                     retried every block. A ticket is never due in its own block, so this always
 *                     reverts: the script counts the reverts and fails if one ever lands;
 *  - block choice:    no prediction is possible (the landing comes from the hash of the request's
 *                     block); its best is to request at chosen moments: one slot, only when the
 *                     odds that a ticket resolved on today's state lands on a wanted segment are at
 *                     least BLOCK_CHOICE_ODDS (scripts/sim/claimModel.ts `landingOdds`: a ticket's
 *                     first slot is drawn uniformly over the free slots it may take, except at a
 *                     job's tail, where every draw may miss and the scan, which favours a segment
 *                     after a long closed run, decides);
 *  - block choice + abandon: requests ABANDON_REACH slots from the address with the most wanted
 *                     segments expected in its landing (`coverageOdds`), keeps the wanted ones and
 *                     gives the rest back
 *                     (`abandon`, SceneFault: forfeit about 0, no reputation mark). The give-back
 *                     refuses that address new requests on the job for one lease
 *                     (JobMarketGiveBackCooldown: here the rest of the job), so it rotates to its
 *                     next address;
 *  - tail waiting:    requests only when one of its addresses can land on nothing but wanted
 *                     segments (the job's tail, where few segments are left open).
 * A segment is wanted by an operator address when nobody holds it yet, or when only the operator
 * holds it and a slot is free. Every resolved ticket is also computed by the model, from its seed
 * block's hash and its index in the queue (known only after the request), and the run stops if
 * the contract disagrees: the script's picture of the claim state is the contract's.
 *
 * After claiming, the operator cheats on the segments where it holds every replica: it commits and
 * reveals the same garbage digest from each of them, and the script reads what the market credited
 * it. Nothing catches that yet (audits, §4, are not built), so the expected profit of cheating per
 * segment is what it was paid for garbage (reward r per captured segment, the render cost saved:
 * worst case C = reward), with nothing at risk. Where r > q it also out-votes: on segments where it
 * holds at least q but not all replicas its replicas reveal garbage, the honest ones the true
 * digest; the script counts the garbage the market accepted and the honest replicas it slashed.
 *
 * Prints, per share f and redundancy r (q = 2), per strategy: segments captured out of n (the
 * sample size), the measured probability P, the model's f^r, P / f^r (target <= 1.5, issue 10
 * property 4) with its 95 % interval, the operator's share of the slots, and the expected profit of
 * cheating per segment; for r > q a second table gives P(at least q replicas) against its binomial
 * model, and the out-voting cheat. The pre-ticket baseline is in docs/collusion.md §5.
 *
 * Usage: npm run sim:collusion
 * Options (environment): SIM_JOBS (jobs per row, default 5), SIM_SEGMENTS (64), SIM_CLAIMERS (30),
 * SIM_SHARES ("0.1,0.2,0.33"), SIM_REDUNDANCIES ("2,3"), SIM_STRATEGIES (all), SIM_SEED (1),
 * SIM_CLAIM_RATE (0.25), SIM_STRICT=1 (exit 1 when a row's P / f^r exceeds 1.5).
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Address, Hex } from "viem";
import { z } from "zod";
import { network } from "hardhat";
import { commitmentOf } from "../sdk/src/commitment.ts";
import { AbandonReason, jobMarketConstants } from "../sdk/src/contracts.generated.ts";
import { type SlotRef, unpackSlots } from "../sdk/src/protocol/slots.ts";
import { deployMarket, generator, progress, stakedClaimers, table, wilson, configOrExit, postSimJob } from "./sim/harness.ts";
import { claimRandomness, claimableBy, coverageOdds, emptyClaimState, landingOdds, predictLanding, recordAbandon, recordClaim } from "./sim/claimModel.ts";
import type { ClaimSteerer, JobMarket, ProviderRegistry, RenderToken } from "../types/ethers-contracts/index.ts";

const STRATEGIES = ["random", "claim-or-revert", "block choice", "block choice + abandon", "tail waiting"] as const;
type Strategy = (typeof STRATEGIES)[number];
/** Issue 10 property 4: the chance of holding every replica stays within this factor of f^r. */
const TARGET_RATIO = 1.5;
const QUORUM = 2;
const UNIT = 10n ** 18n;
const REWARD = UNIT;
const COLLATERAL = 2n * UNIT;
const STAKE = 1_000_000n * UNIT;
/** How many slots "block choice + abandon" requests per ticket (the extras are given back). */
const ABANDON_REACH = 16;
/** "block choice" requests only when a one-slot ticket lands on a wanted segment with at least these odds. */
const BLOCK_CHOICE_ODDS = 0.5;

const items = z.string().transform((s) => s.split(",").map((x) => x.trim()));
const numbers = items.transform((xs) => xs.map(Number));
const isStrategy = (x: string): x is Strategy => (STRATEGIES as readonly string[]).includes(x);
const Config = z.object({
  jobs: z.coerce.number().int().min(1).default(5),
  segments: z.coerce.number().int().min(4).max(256).default(64),
  claimers: z.coerce.number().int().min(6).max(200).default(30),
  shares: numbers.pipe(z.array(z.number().gt(0).lt(1)).min(1)).default([0.1, 0.2, 0.33]),
  redundancies: numbers.pipe(z.array(z.number().int().min(2).max(5)).min(1)).default([2, 3]),
  strategies: items.refine((xs) => xs.length > 0 && xs.every(isStrategy), `one or more of: ${STRATEGIES.join(", ")}`).transform((xs) => xs.filter(isStrategy)).default([...STRATEGIES]),
  claimRate: z.coerce.number().gt(0).max(1).default(0.25),
  seed: z.coerce.number().int().default(1),
  strict: z.enum(["0", "1"]).default("0").transform((s) => s === "1"),
});
const parsed = Config.safeParse({
  jobs: process.env.SIM_JOBS,
  segments: process.env.SIM_SEGMENTS,
  claimers: process.env.SIM_CLAIMERS,
  shares: process.env.SIM_SHARES,
  redundancies: process.env.SIM_REDUNDANCIES,
  strategies: process.env.SIM_STRATEGIES,
  claimRate: process.env.SIM_CLAIM_RATE,
  seed: process.env.SIM_SEED,
  strict: process.env.SIM_STRICT,
});
const config = configOrExit(parsed, "scripts/simCollusion.ts");

const connection = await network.create();
const { ethers, networkHelpers } = connection;

const random = generator(config.seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const randomWord = (): Hex => `0x${Array.from({ length: 8 }, () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, "0")).join("")}`;

interface World {
  token: RenderToken;
  registry: ProviderRegistry;
  market: JobMarket;
  requester: HardhatEthersSigner;
  operator: HardhatEthersSigner;
  /** Plain claimer accounts; the first ones are the operator's in the EOA strategies. */
  claimers: HardhatEthersSigner[];
  /** The operator's claim-or-revert contracts, each a registered provider. */
  steerers: ClaimSteerer[];
}

async function deploy(): Promise<World> {
  const deployed = await deployMarket(connection);
  const { token, registry, market, requester, operator } = deployed;
  const claimers = await stakedClaimers(connection, deployed, config.claimers, STAKE);
  const steererCount = Math.max(...config.shares.map(operatorSize));
  await token.transfer(operator.address, BigInt(steererCount) * STAKE);
  const factory = await ethers.getContractFactory("ClaimSteerer", operator);
  const steerers: ClaimSteerer[] = [];
  for (let i = 0; i < steererCount; i++) {
    const steerer = (await factory.deploy(market.target, registry.target)) as unknown as ClaimSteerer;
    await token.connect(operator).approve(steerer.target, STAKE);
    await steerer.join(`bafysimsteerer${i}`, STAKE);
    steerers.push(steerer);
  }
  progress("");
  return { token, registry, market, requester, operator, claimers, steerers };
}

/** How many of the claimer addresses the operator holds at share f (at least r are needed to capture). */
function operatorSize(share: number): number {
  return Math.max(1, Math.round(share * config.claimers));
}

/** One claimer as the simulation drives it: an account, or a steerer contract the operator drives. */
interface Claimer {
  address: Address;
  isOperator: boolean;
  steerer?: ClaimSteerer;
  signer: HardhatEthersSigner;
}

/** A queued claim ticket of the job, as its ClaimRequested event told. */
interface Ticket {
  who: Claimer;
  count: number;
  seedBlock: bigint;
  /** Its index in the job's queue: part of its seed. */
  index: bigint;
}

interface JobOutcome {
  captured: number;
  operatorSlots: number;
  blocks: number;
  reverted: number;
  abandoned: number;
  /** Requested slots that no segment took (the ticket resolved on a full job, or behind others). */
  lapsed: number;
  /** Changes of the operator's abandoned/rejected/expired counters in the registry (reputation). */
  reputationMarks: number;
  paid: bigint;
  /** Segments where the operator held at least q but not all replicas (r > q). */
  majority: number;
  majorityAccepted: number;
  majorityPaid: bigint;
  honestSlashed: number;
}

/** Runs the claiming of one job under `strategy`, then the operator's cheat; returns what it measured. */
async function runJob(w: World, strategy: Strategy, share: number, redundancy: number): Promise<JobOutcome> {
  const k = operatorSize(share);
  const operatorShare = k / config.claimers;
  const segmentCount = config.segments;
  const now = await networkHelpers.time.latest();
  const jobId = await postSimJob(w, now, { manifestCid: "bafysimcollusion", segmentCount, redundancy, quorum: QUORUM, reward: REWARD, collateral: COLLATERAL });
  const ops: Claimer[] = Array.from({ length: k }, (_, i) =>
    strategy === "claim-or-revert"
      ? { address: w.steerers[i].target as Address, isOperator: true, steerer: w.steerers[i], signer: w.operator }
      : { address: w.claimers[i].address as Address, isOperator: true, signer: w.claimers[i] },
  );
  const honest: Claimer[] = w.claimers.slice(k).map((signer) => ({ address: signer.address as Address, isOperator: false, signer }));
  const operatorAddresses = new Set(ops.map((o) => o.address.toLowerCase()));
  const marks = async () => {
    let n = 0;
    for (const o of ops) {
      const p = await w.registry.providerOf(o.address);
      n += Number(p.abandoned + p.rejected + p.expired);
    }
    return n;
  };
  const marksBefore = await marks();
  let nextIndex = 0n;
  const state = emptyClaimState(segmentCount, redundancy);
  const replicas = new Map<string, { segment: number; replica: number }[]>([...ops, ...honest].map((o) => [o.address.toLowerCase(), []]));
  const byAddress = new Map<string, Claimer>([...ops, ...honest].map((o) => [o.address.toLowerCase(), o]));
  let assigned = 0;
  let budget = 0;
  let blocks = 0;
  let reverted = 0;
  let abandoned = 0;
  let lapsed = 0;
  /** Whether a transaction of this block went through (else the loop mines an empty block). */
  let minedThisBlock = false;
  /** The job's tickets not yet resolved, in queue order (from the ClaimRequested events). */
  const queue: Ticket[] = [];
  /** Budget the operator's waiting tickets hold back (returned when they resolve). */
  const reserved = new Map<bigint, number>();
  /** Operator addresses that gave slots back: refused further requests for one lease (the rest of the job). */
  const cooled = new Set<string>();

  /**
   * Segments `who` wants: the operator's own segments with a free slot (a partner holds one,
   * nobody honest does), and, while its budget exceeds what completing those needs, untouched
   * segments (new anchors). Completing before anchoring keeps the budget for claims that pair.
   */
  const wanted = (who: Claimer): Set<number> => {
    const out = new Set<number>();
    const me = who.address.toLowerCase();
    let needed = 0;
    for (let s = 0; s < segmentCount; s++) {
      const holders = state.holders[s];
      if (holders.length === 0 || holders.length >= redundancy || !holders.every((h) => operatorAddresses.has(h))) continue;
      needed += redundancy - holders.length;
      if (!holders.includes(me)) out.add(s);
    }
    if (budget > needed) for (let s = 0; s < segmentCount; s++) if (state.holders[s].length === 0) out.add(s);
    return out;
  };

  /**
   * Reads a receipt's ticket events in order: a ClaimRequested queues a ticket; a resolution is
   * the queue's head ticket, whose landing the model computes from its seed block's hash and
   * index (known only now) and checks against the contract's ReplicasClaimed / ClaimLapsed. The
   * operator's resolved tickets are settled against its budget; under "block choice + abandon"
   * the slots it does not want are given back (after the receipt is read).
   */
  const absorb = async (receipt: { logs: readonly { topics: readonly string[]; data: string }[] } | null) => {
    const events = receipt!.logs
      .map((log) => w.market.interface.parseLog(log))
      .filter((e) => e !== null && ["ClaimRequested", "ReplicasClaimed", "ClaimLapsed"].includes(e.name) && e.args.jobId === jobId);
    const giveBacks: { who: Claimer; segments: number[] }[] = [];
    for (let i = 0; i < events.length; ) {
      const event = events[i]!;
      if (event.name === "ClaimRequested") {
        const who = byAddress.get(String(event.args.provider).toLowerCase())!;
        queue.push({ who, count: Number(event.args.count), seedBlock: event.args.seedBlock as bigint, index: nextIndex++ });
        i++;
        continue;
      }
      const ticket = queue.shift();
      if (!ticket) throw new Error(`${event.name} with no ticket waiting`);
      const seedHash = (await ethers.provider.getBlock(ticket.seedBlock))!.hash as Hex;
      const predicted = predictLanding(state, ticket.who.address, claimRandomness(seedHash, jobId, ticket.index), ticket.count);
      let slots: SlotRef[] = [];
      if (predicted.length > 0) {
        if (event.name !== "ReplicasClaimed" || String(event.args.provider).toLowerCase() !== ticket.who.address.toLowerCase()) {
          throw new Error(`model mismatch: ticket ${ticket.index} should land on [${predicted}], the contract emitted ${event.name}`);
        }
        slots = unpackSlots(event.args.slots as bigint[]);
        if (slots.map((s) => s.segment).join() !== predicted.join()) {
          throw new Error(`model mismatch: ticket ${ticket.index} landed on [${slots.map((s) => s.segment)}], model said [${predicted}]`);
        }
        i++;
      }
      if (predicted.length < ticket.count) {
        const lapse = events[i];
        if (lapse?.name !== "ClaimLapsed" || Number(lapse.args.unfilled) !== ticket.count - predicted.length) {
          throw new Error(`model mismatch: ticket ${ticket.index} should leave ${ticket.count - predicted.length} unfilled, the contract emitted ${lapse?.name}`);
        }
        lapsed += ticket.count - predicted.length;
        i++;
      }
      let keep = slots;
      if (ticket.who.isOperator) {
        budget += reserved.get(ticket.index) ?? 0;
        reserved.delete(ticket.index);
        if (strategy === "block choice + abandon") {
          const want = wanted(ticket.who);
          keep = slots.filter((s) => want.has(s.segment)).slice(0, budget);
        }
        budget -= keep.length;
      }
      recordClaim(state, ticket.who.address, slots);
      replicas.get(ticket.who.address.toLowerCase())!.push(...slots);
      assigned += slots.length;
      const extras = slots.filter((s) => !keep.includes(s)).map((s) => s.segment);
      if (extras.length > 0) giveBacks.push({ who: ticket.who, segments: extras });
    }
    for (const { who, segments } of giveBacks) await giveBack(who, segments);
  };

  /** Sends `who`'s request for `count` slots (one block); the operator's holds back `reserve` of its budget. */
  const request = async (who: Claimer, count: number, reserve = count) => {
    const receipt = await (await w.market.connect(who.signer).requestClaim(jobId, count)).wait();
    minedThisBlock = true;
    if (who.isOperator) {
      budget -= reserve;
      reserved.set(nextIndex, reserve); // its ticket's index: the next one absorb queues
    }
    await absorb(receipt);
  };

  /** Gives `who`'s slots of these segments back at once, as a scene fault (no reputation mark). */
  const giveBack = async (who: Claimer, segments: number[]) => {
    const held = replicas.get(who.address.toLowerCase())!;
    const slots = held.filter((s) => segments.includes(s.segment));
    const receipt = await (await w.market.connect(who.signer).abandon(jobId, slots, AbandonReason.SceneFault, "")).wait();
    minedThisBlock = true;
    await absorb(receipt); // an abandon resolves due tickets first, on the open set before the give-back
    replicas.set(who.address.toLowerCase(), held.filter((s) => !segments.includes(s.segment)));
    recordAbandon(state, who.address, slots);
    cooled.add(who.address.toLowerCase());
    assigned -= segments.length;
    abandoned += segments.length;
  };

  /** The chance that a one-slot ticket of `o` resolved on today's state lands on a segment it wants. */
  const wantedOdds = (o: Claimer) => {
    const want = wanted(o);
    return landingOdds(state, o.address).reduce((p, odds, s) => (want.has(s) ? p + odds : p), 0);
  };

  const operatorMove = async () => {
    const active = ops.filter((o) => !cooled.has(o.address.toLowerCase()) && claimableBy(state, o.address).length > 0);
    if (strategy === "random") {
      if (active.length > 0) await request(pick(active), 1);
      return;
    }
    if (strategy === "claim-or-revert") {
      // The steerer requests and resolves in one transaction: never due, so it always reverts.
      const who = ops.map((o) => ({ o, want: [...wanted(o)] })).filter((x) => x.want.length > 0);
      if (who.length === 0) return;
      const { o, want } = pick(who);
      try {
        await (await o.steerer!.connect(w.operator).claimOnto(jobId, want, { gasLimit: 5_000_000 })).wait();
      } catch (error) {
        if (!String(error).includes("ClaimSteererMissed")) throw error;
        reverted++;
        return;
      }
      throw new Error("a claim-or-revert steerer landed: claim tickets should make that impossible");
    }
    if (strategy === "block choice") {
      // No prediction is possible: it requests one slot only at moments when the odds of landing
      // on a wanted segment, over the unknown seed, are at least BLOCK_CHOICE_ODDS.
      let best: { o: Claimer; p: number } | undefined;
      for (const o of active) {
        const p = wantedOdds(o);
        if (!best || p > best.p) best = { o, p };
      }
      if (best && best.p >= BLOCK_CHOICE_ODDS) await request(best.o, 1);
      return;
    }
    if (strategy === "block choice + abandon") {
      // Requests ABANDON_REACH slots from the address with the most wanted segments expected in
      // its landing, keeps the wanted ones and gives the rest back; the give-back cools that address
      // for a lease (JobMarketGiveBackCooldown), so it rotates to its next address.
      let best: { o: Claimer; hits: number } | undefined;
      for (const o of active) {
        const want = wanted(o);
        const hits = coverageOdds(state, o.address, ABANDON_REACH).reduce((h, odds, s) => (want.has(s) ? h + odds : h), 0);
        if (hits > 0 && (!best || hits > best.hits)) best = { o, hits };
      }
      if (best) await request(best.o, ABANDON_REACH, Math.min(budget, ABANDON_REACH));
      return;
    }
    // tail waiting: request only where every segment the address can land on is wanted.
    for (const o of active) {
      const claimable = claimableBy(state, o.address);
      const want = wanted(o);
      if (claimable.every((s) => want.has(s))) {
        await request(o, Math.min(budget, claimable.length, jobMarketConstants.MAX_BATCH));
        return;
      }
    }
  };

  const total = segmentCount * redundancy;
  while (assigned < total) {
    blocks++;
    minedThisBlock = false;
    if (random() < config.claimRate) {
      if (random() < operatorShare) budget++;
      else {
        const able = honest.filter((h) => claimableBy(state, h.address).length > 0);
        if (able.length > 0) await request(pick(able), 1);
      }
    }
    const operatorWaiting = queue.some((t) => t.who.isOperator);
    if (budget > 0 && !operatorWaiting) await operatorMove();
    if (!minedThisBlock) {
      // A block with no request of this job: a keeper resolves what is due, else nothing happens.
      if (queue.length > 0) await absorb(await (await w.market.connect(w.requester).resolveClaims(jobId)).wait());
      else await networkHelpers.mine();
    }
    if (blocks % 50 === 0) progress(`  ${strategy}, f=${share}, r=${redundancy}: ${assigned}/${total} slots assigned, block ${blocks}`);
    if (blocks > 200 * total) throw new Error(`the job is not fully claimed after ${blocks} blocks`);
  }
  // Tickets still waiting find no open segment: they lapse unfilled (collateral back, no forfeit).
  while (queue.length > 0) await absorb(await (await w.market.connect(w.requester).resolveClaims(jobId)).wait());

  // The cheats: every replica of a captured segment reveals the same garbage (nobody can tell);
  // then, where it holds at least q but not all replicas, its replicas out-vote the honest rest.
  const operatorHeld = (h: string[]) => h.filter((a) => operatorAddresses.has(a)).length;
  const captured = new Set(state.holders.flatMap((h, s) => (operatorHeld(h) === redundancy ? [s] : [])));
  const majority = new Set(state.holders.flatMap((h, s) => (operatorHeld(h) >= QUORUM && operatorHeld(h) < redundancy ? [s] : [])));
  const unchecked = await cheat(w, jobId, [...ops, ...honest], replicas, operatorAddresses, captured);
  if (unchecked.accepted !== captured.size) throw new Error(`${captured.size} segments captured but ${unchecked.accepted} garbage results accepted`);
  const outvoted = await cheat(w, jobId, [...ops, ...honest], replicas, operatorAddresses, majority);
  const operatorSlots = ops.reduce((n, o) => n + replicas.get(o.address.toLowerCase())!.length, 0);
  return {
    captured: captured.size, operatorSlots, blocks, reverted, abandoned, lapsed, reputationMarks: (await marks()) - marksBefore, paid: unchecked.paid,
    majority: majority.size, majorityAccepted: outvoted.accepted, majorityPaid: outvoted.paid, honestSlashed: outvoted.slashed,
  };
}

/**
 * On `segments`, every holder commits: the operator's addresses a garbage digest, honest ones the
 * segment's honest digest; the operator reveals first, then the honest. Returns what the market
 * paid the operator, how many segments accepted the garbage and how many honest replicas it slashed.
 */
async function cheat(
  w: World, jobId: bigint, everyone: Claimer[], replicas: Map<string, { segment: number; replica: number }[]>,
  operatorAddresses: Set<string>, segments: Set<number>,
) {
  const isOperator = (c: Claimer) => operatorAddresses.has(c.address.toLowerCase());
  const digest = (c: Claimer, segment: number) => ethers.keccak256(ethers.toUtf8Bytes(`${isOperator(c) ? "garbage" : "pixels"}:${segment}`)) as Hex;
  const salt = ethers.keccak256(ethers.toUtf8Bytes("sim.salt")) as Hex;
  const involved = everyone
    .map((c) => ({ c, slots: replicas.get(c.address.toLowerCase())!.filter((s) => segments.has(s.segment)) }))
    .filter((x) => x.slots.length > 0);
  const operatorSide = involved.filter((x) => isOperator(x.c));
  const before = await Promise.all(operatorSide.map((x) => w.market.balanceOf(x.c.address)));
  const market = (c: Claimer) => (c.steerer ? c.steerer.connect(w.operator) : w.market.connect(c.signer));
  for (const { c, slots } of involved) {
    const commits = slots.map((s) => ({ ...s, commitment: commitmentOf(digest(c, s.segment), salt, c.address, jobId, s.segment) }));
    await (await market(c).commit(jobId, commits)).wait();
  }
  let accepted = 0;
  let slashed = 0;
  for (const { c, slots } of [...operatorSide, ...involved.filter((x) => !isOperator(x.c))]) {
    const reveals = slots.map((s) => ({ ...s, digest: digest(c, s.segment), salt, resultCid: "bafysimresult", fingerprint: "0x", peerFingerprints: [] }));
    const receipt = await (await market(c).reveal(jobId, reveals)).wait();
    for (const event of receipt!.logs.map((log) => w.market.interface.parseLog(log))) {
      if (event?.name === "SegmentAccepted" && isOperator(c)) accepted++;
      if (event?.name === "ReplicaRejected" && !operatorAddresses.has(String(event.args.provider).toLowerCase())) slashed++;
    }
  }
  const after = await Promise.all(operatorSide.map((x) => w.market.balanceOf(x.c.address)));
  return { paid: after.reduce((sum, b, i) => sum + b - before[i], 0n), accepted, slashed };
}

interface Row {
  share: number;
  redundancy: number;
  strategy: Strategy;
  segments: number;
  captured: number;
  measured: number;
  model: number;
  ratio: number;
  /** 95 % Wilson interval of P, divided by f^r. */
  ratioLow: number;
  ratioHigh: number;
  slotShare: number;
  profitPerSegment: number;
  blocksPerJob: number;
  revertedPerJob: number;
  abandonedPerJob: number;
  lapsedPerJob: number;
  marksPerJob: number;
  /** Segments where the operator held at least q replicas (it decides the result). */
  quorumHeld: number;
  quorumModel: number;
  garbageAccepted: number;
  slashedPerJob: number;
  profitWithOutvotePerSegment: number;
}

/** P(at least q of r replicas are the operator's) when each is its own with probability f. */
function atLeast(q: number, r: number, f: number): number {
  let p = 0;
  for (let j = q; j <= r; j++) p += binomial(r, j) * f ** j * (1 - f) ** (r - j);
  return p;
}

function binomial(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - i + 1)) / i;
  return c;
}

async function main() {
  const started = Date.now();
  console.log(
    `Collusion simulation — real contracts on the in-process chain; ${config.claimers} claimer addresses, ` +
      `${config.segments}-segment jobs, q = ${QUORUM}, reward 1 token per replica, ${config.jobs} job(s) per row, seed ${config.seed}\n`,
  );
  const w = await deploy();
  const rows: Row[] = [];
  for (const redundancy of config.redundancies) {
    for (const share of config.shares) {
      const k = operatorSize(share);
      if (k < redundancy) {
        console.log(`f=${share}, r=${redundancy}: the operator's ${k} address(es) cannot hold ${redundancy} replicas; skipped`);
        continue;
      }
      for (const strategy of config.strategies) {
        let captured = 0, operatorSlots = 0, blocks = 0, reverted = 0, abandoned = 0, lapsed = 0, marks = 0, paid = 0n, majority = 0, majorityAccepted = 0, majorityPaid = 0n, slashed = 0;
        for (let j = 0; j < config.jobs; j++) {
          const outcome = await runJob(w, strategy, share, redundancy);
          captured += outcome.captured;
          operatorSlots += outcome.operatorSlots;
          blocks += outcome.blocks;
          reverted += outcome.reverted;
          abandoned += outcome.abandoned;
          lapsed += outcome.lapsed;
          marks += outcome.reputationMarks;
          majority += outcome.majority;
          majorityAccepted += outcome.majorityAccepted;
          majorityPaid += outcome.majorityPaid;
          slashed += outcome.honestSlashed;
          paid += outcome.paid;
        }
        const segments = config.jobs * config.segments;
        const f = k / config.claimers;
        const measured = captured / segments;
        const model = f ** redundancy;
        const [low, high] = wilson(captured, segments);
        rows.push({
          share, redundancy, strategy, segments, captured, measured, model,
          ratio: measured / model,
          ratioLow: low / model,
          ratioHigh: high / model,
          slotShare: operatorSlots / (segments * redundancy),
          profitPerSegment: Number(paid) / Number(UNIT) / segments,
          blocksPerJob: blocks / config.jobs,
          revertedPerJob: reverted / config.jobs,
          abandonedPerJob: abandoned / config.jobs,
          lapsedPerJob: lapsed / config.jobs,
          marksPerJob: marks / config.jobs,
          quorumHeld: captured + majority,
          quorumModel: atLeast(QUORUM, redundancy, f),
          garbageAccepted: captured + majorityAccepted,
          slashedPerJob: slashed / config.jobs,
          profitWithOutvotePerSegment: Number(paid + majorityPaid) / Number(UNIT) / segments,
        });
      }
    }
  }
  progress("");
  printRows(rows);
  printOutvoting(rows.filter((r) => r.redundancy > QUORUM));
  const misses = rows.filter((r) => r.ratio > TARGET_RATIO);
  const clearMisses = misses.filter((r) => r.ratioLow > TARGET_RATIO);
  const profitable = rows.filter((r) => r.profitPerSegment > 0 || r.profitWithOutvotePerSegment > 0);
  console.log(
    `\nAssignment target (issue 10 properties 1 and 4): P <= ${TARGET_RATIO} x f^r under every strategy.` +
      `\n${misses.length} of ${rows.length} rows miss it` +
      (misses.length > 0 ? ` (${misses.map((r) => `f=${r.share} r=${r.redundancy} ${r.strategy}`).join("; ")})` : "") +
      `; ${clearMisses.length} of them with the whole 95 % interval above ${TARGET_RATIO}.` +
      `\nCheat profit: ${profitable.length} of ${rows.length} rows were paid for garbage. Expected: these jobs are not audited` +
      " (auditBps 0), so any captured segment pays; `npm run sim:audits` measures audited jobs (the default terms).",
  );
  const thin = rows.filter((r) => r.model * r.segments < 5);
  if (thin.length > 0) console.log(`Rows where random assignment expects < 5 captured segments (${thin.map((r) => `f=${r.share} r=${r.redundancy}`).filter((v, i, a) => a.indexOf(v) === i).join(", ")}) are noisy: raise SIM_JOBS.`);
  console.log(`Run time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (config.strict && misses.length > 0) process.exitCode = 1; // the assignment target only: §4 is not built
}

/** r > q: the operator decides a segment with q replicas; its garbage wins and the honest rest is slashed. */
function printOutvoting(rows: Row[]) {
  if (rows.length === 0) return;
  console.log(`\nOut-voting (r > q = ${QUORUM}): segments where the operator held at least q replicas; its replicas reveal garbage, the honest ones the true digest.`);
  table(
    ["f", "r", "strategy", ">= q held", "P measured", "model", "ratio", "garbage accepted", "honest slashed/job", "E[cheat profit]/segment"],
    rows.map((r) => [
      r.share.toString(),
      r.redundancy.toString(),
      r.strategy,
      `${r.quorumHeld}/${r.segments}`,
      (r.quorumHeld / r.segments).toFixed(4),
      r.quorumModel.toFixed(4),
      (r.quorumHeld / r.segments / r.quorumModel).toFixed(2),
      `${r.garbageAccepted}`,
      r.slashedPerJob.toFixed(1),
      `+${r.profitWithOutvotePerSegment.toFixed(3)} tokens`,
    ]),
    3,
  );
  console.log("model: P(at least q of r replicas are the operator's) = sum over j >= q of C(r,j) f^j (1-f)^(r-j); profit counts both cheats (all replicas, and out-voting).");
}

function printRows(rows: Row[]) {
  const header = ["f", "r", "strategy", "captured", "P measured", "f^r", "P / f^r", "95 % CI of P / f^r", "op. slots", "E[cheat profit]/segment", "blocks/job", "reverted/job", "abandoned/job", "lapsed/job", "rep. marks/job"];
  const body = rows.map((r) => [
    r.share.toString(),
    r.redundancy.toString(),
    r.strategy,
    `${r.captured}/${r.segments}`,
    r.measured.toFixed(4),
    r.model.toFixed(4),
    r.ratio.toFixed(2) + (r.ratio > TARGET_RATIO ? " !" : ""),
    `${r.ratioLow.toFixed(2)}–${r.ratioHigh.toFixed(2)}`,
    `${(r.slotShare * 100).toFixed(1)} %`,
    `+${r.profitPerSegment.toFixed(3)} tokens`,
    r.blocksPerJob.toFixed(0),
    r.revertedPerJob.toFixed(0),
    r.abandonedPerJob.toFixed(0),
    r.lapsedPerJob.toFixed(1),
    r.marksPerJob.toFixed(0),
  ]);
  table(header, body, 3);
  console.log(
    "\ncaptured: segments where the operator held every replica, out of n = jobs x segments (the sample size);" +
      "\n95 % CI: Wilson interval of P divided by f^r (segments taken as independent draws); op. slots: the operator's share of all slots;" +
      "\nlapsed: requested slots no segment took (a ticket resolved behind others on a full job);" +
      "\nrep. marks: abandoned, rejected and expired counts the registry recorded against the operator's addresses during the job;" +
      "\nE[cheat profit]/segment: what the market paid the operator for garbage reveals on captured segments, per job segment" +
      "\n(the render cost saved, worst case C = reward); nothing catches it in these unaudited jobs (audited ones: npm run sim:audits).",
  );
}

await main();
