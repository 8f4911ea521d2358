/**
 * Property test of the sdk's one event fold against the real contracts: random sequences of
 * protocol actions (post, claim, commit, reveal — honest, cheating and direct —, abandon, expire,
 * cancel, closeSegments, withdraw, unstake, fee changes, time passing) run on the deployed
 * JobMarket and ProviderRegistry; after every step the events so far are folded and the folded
 * state must equal what every view function reports (jobOf, segmentOf, replicaOf, providerOf,
 * balanceOf, the totals, feeBps, treasury, jobCount), with no anomaly recorded.
 *
 * FOLD_SEED=<n> replays a run; FOLD_RUNS / FOLD_STEPS size it (defaults keep it near a minute).
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Log as ViemLog } from "viem";
import { decodeProtocolEvents } from "../../sdk/src/market.ts";
import {
  applyCommitments,
  createFold,
  emptyState,
  expectedJobView,
  expectedProviderView,
  expectedReplicaView,
  expectedSegmentView,
  isClosable,
  isJobClaimable,
  JobStatus,
  peerFingerprintsOf,
  Verification,
  ReplicaState,
  SegmentStatus,
  segmentOf,
  type FoldEvent,
  type ProtocolState,
} from "../../sdk/src/protocol/index.ts";
import { COLLATERAL, type Deployment, commitmentOf, deployFixture, digestOf, ethers, fingerprintOf, linkOf, networkHelpers } from "./helpers/driver.ts";

const RUNS = Number(process.env.FOLD_RUNS ?? 20);
const STEPS = Number(process.env.FOLD_STEPS ?? 60);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}

type Rng = ReturnType<typeof prng>;

/** A Tolerant replica's fingerprint: honest ones differ from the segment's in 0–40 of 256 blocks (some beyond a tight tolerance), cheaters almost everywhere. */
function randomFingerprint(rng: Rng, jobId: bigint, segment: number, replica: number): string {
  const flat = rng.pick([0, 0, 200]);
  if (rng.chance(0.2)) return fingerprintOf(`garbage:${jobId}:${segment}:${replica}`, 0, flat);
  return fingerprintOf(`segment:${jobId}:${segment}`, rng.pick([0, 0, 3, 40]), flat);
}

/** Everything the test remembers that the chain does not show: digests and salts of commits. */
interface Secrets {
  /** `jobId:segment:replica` → what was committed. */
  committed: Map<string, { digest: string; salt: string; commitment: `0x${string}`; fingerprint?: string }>;
}

const key = (jobId: bigint, segment: number, replica: number) => `${jobId}:${segment}:${replica}`;

/** Reads the protocol's events of blocks (from, latest] as the fold's input. */
async function eventsSince(d: Deployment, fromBlock: number): Promise<{ events: FoldEvent[]; latest: number }> {
  const latest = await ethers.provider.getBlockNumber();
  if (latest <= fromBlock) return { events: [], latest };
  const addresses = [d.market.target as string, d.registry.target as string];
  const raw = await ethers.provider.getLogs({ fromBlock: fromBlock + 1, toBlock: latest });
  const logs = raw
    .filter((l) => addresses.includes(l.address))
    .map(
      (l) =>
        ({
          address: l.address as `0x${string}`,
          topics: l.topics as [`0x${string}`, ...`0x${string}`[]],
          data: l.data as `0x${string}`,
          blockNumber: BigInt(l.blockNumber),
          blockHash: l.blockHash as `0x${string}`,
          logIndex: l.index,
          transactionHash: l.transactionHash as `0x${string}`,
          transactionIndex: l.transactionIndex,
          removed: false,
        }) satisfies ViemLog,
    );
  return { events: decodeProtocolEvents(logs) as unknown as FoldEvent[], latest };
}

/** Compares a view (ethers Result: every integer a bigint) with what the fold expects, field by field. */
function expectView(subject: string, expected: Record<string, unknown>, actual: Record<string, unknown>, seed: number, step: string) {
  for (const [field, want] of Object.entries(expected)) {
    if (want === undefined) continue;
    const got = actual[field];
    const norm = (v: unknown) => (typeof v === "number" || typeof v === "bigint" ? BigInt(v) : typeof v === "string" ? v.toLowerCase() : v);
    expect(norm(got), `${subject}.${field} after ${step} (replay with FOLD_SEED=${seed})`).to.equal(norm(want));
  }
}

/** An ethers struct result as a plain object of its named fields. */
function plain(result: unknown): Record<string, unknown> {
  return (result as { toObject(): Record<string, unknown> }).toObject();
}

async function checkAgainstViews(d: Deployment, state: ProtocolState, secrets: Secrets, seed: number, step: string) {
  expect(state.anomalies, `fold anomalies after ${step} (FOLD_SEED=${seed})`).to.deep.equal([]);
  const { market, registry } = d;
  expect(await market.jobCount(), `jobCount (FOLD_SEED=${seed})`).to.equal(BigInt(state.jobs.size));
  expect(await market.totalEscrow(), `totalEscrow after ${step} (FOLD_SEED=${seed})`).to.equal(state.totalEscrow);
  expect(await market.totalBalances(), `totalBalances after ${step} (FOLD_SEED=${seed})`).to.equal(state.totalBalances);
  expect(await registry.totalStaked(), `totalStaked after ${step} (FOLD_SEED=${seed})`).to.equal(state.totalStaked);
  if (state.feeBps !== undefined) expect(await market.feeBps()).to.equal(BigInt(state.feeBps));
  const [pendingFee, pendingAt] = await market.pendingFee();
  expect(pendingFee).to.equal(BigInt(state.pendingFee?.feeBps ?? 0));
  expect(pendingAt).to.equal(state.pendingFee?.effectiveAt ?? 0n);
  if (state.treasury !== undefined) expect((await market.treasury()).toLowerCase()).to.equal(state.treasury.toLowerCase());
  applyCommitments(state, new Map([...secrets.committed].map(([k, v]) => [k, v.commitment])));
  for (const job of state.jobs.values()) {
    const view = plain(await market.jobOf(job.jobId));
    expectView(`job ${job.jobId}`, expectedJobView(job) as unknown as Record<string, unknown>, view, seed, step);
    // The fold's waiting claim tickets are the contract's claim queue, in order.
    const [createdBlock, , waiting] = await market.claimQueueOf(job.jobId);
    expect(createdBlock, `job ${job.jobId} creation block`).to.equal(job.createdBlock);
    expect(
      waiting.map((t) => [t.provider, Number(t.count), t.seedBlock]),
      `job ${job.jobId} claim queue after ${step} (FOLD_SEED=${seed})`,
    ).to.deep.equal(job.tickets.map((t) => [t.provider, t.count, t.seedBlock]));
    for (let s = 0; s < job.params.segmentCount; s++) {
      const seg = segmentOf(job, s);
      const segView = plain(await market.segmentOf(job.jobId, s));
      expectView(`job ${job.jobId} segment ${s}`, expectedSegmentView(job, seg), segView, seed, step);
      const slots = Math.max(seg.slots, seg.replicas.length, job.params.redundancy);
      for (let k = 0; k < slots; k++) {
        const repView = plain(await market.replicaOf(job.jobId, s, k));
        expectView(`job ${job.jobId} segment ${s} replica ${k}`, expectedReplicaView(seg, seg.replicas[k]), repView, seed, step);
      }
    }
  }
  for (const [account, balance] of state.balances) {
    expect(await market.balanceOf(account), `balance of ${account} after ${step} (FOLD_SEED=${seed})`).to.equal(balance);
  }
  for (const p of state.providers.values()) {
    const view = plain(await registry.providerOf(p.address));
    expectView(`provider ${p.address}`, expectedProviderView(p) as unknown as Record<string, unknown>, view, seed, step);
    expect(await registry.reputation(p.address)).to.equal(BigInt(expectedProviderView(p).score));
  }
}

/** The slots of a job in a given on-chain state, with their holders, from the (checked) fold. */
function slotsIn(state: ProtocolState, jobId: bigint, states: number[]) {
  const job = state.jobs.get(jobId);
  if (!job) return [];
  const out: { segment: number; replica: number; provider: string }[] = [];
  for (const seg of job.segments.values()) {
    if (seg.cleared) continue;
    seg.replicas.forEach((r, k) => {
      if (states.includes(r.state)) out.push({ segment: seg.index, replica: k, provider: r.provider });
    });
  }
  return out;
}

/** One random action; returns its description. A revert is part of the property: it must leave the fold equal to the views. */
async function act(d: Deployment, rng: Rng, state: ProtocolState, secrets: Secrets): Promise<string> {
  const { market, registry } = d;
  const signerOf = (address: string) => d.providers.find((p) => p.address.toLowerCase() === address.toLowerCase())!;
  const jobs = [...state.jobs.values()];
  // Mostly act on the newest jobs, so that segments get all the way to acceptance.
  const job = jobs.length ? jobs[Math.max(0, jobs.length - 1 - rng.int(0, 1))] : undefined;
  const now = BigInt(await networkHelpers.time.latest());
  const stale = !job || !isJobClaimable(job, now + 1n);
  let roll = jobs.length < 2 || (stale && rng.chance(0.5)) || rng.chance(0.03) ? 0 : rng.int(5, 99);
  // Nothing held yet: claim instead of looking for slots to act on.
  if (job && roll >= 27 && roll < 79 && slotsIn(state, job.jobId, [ReplicaState.Claimed, ReplicaState.Committed]).length === 0 && rng.chance(0.8)) roll = 5;
  const attempt = async (what: string, send: () => Promise<unknown>) => {
    try {
      await send();
      return what;
    } catch (error) {
      const name = /reverted with custom error '(\w+)/.exec(String(error))?.[1] ?? /(\w+)\(/.exec(String((error as { shortMessage?: string }).shortMessage ?? ""))?.[1];
      return `${what} (reverted: ${name ?? String(error).slice(0, 80)})`;
    }
  };

  if (roll < 5) {
    const redundancy = rng.int(1, 3);
    const quorum = rng.int(Math.floor(redundancy / 2) + 1, redundancy);
    const params = {
      manifestCid: "bafymanifest",
      segmentCount: rng.int(1, 3),
      redundancy,
      quorum,
      // Sometimes below the deployment's minCreditReward (1 token): paid, but no reputation.
      rewardPerReplica: rng.chance(0.2) ? 10n ** 17n : BigInt(rng.int(1, 10)) * 10n ** 18n,
      collateralPerReplica: COLLATERAL,
      leaseDuration: rng.pick([30, 120, 300]),
      revealWindow: rng.pick([30, 120, 300]),
      deadline: Number(now) + rng.pick([200, 900, 3600]),
      minReputation: rng.pick([0, 0, 0, 4000]),
      maxFeeBps: 1_000,
      // One job in two is Tolerant (fingerprints compared on-chain within the tolerance).
      verification: rng.chance(0.5) ? Verification.Tolerant : Verification.Exact,
      toleranceBps: 0,
      auditBps: 0,
    };
    if (params.verification === Verification.Tolerant) params.toleranceBps = rng.pick([1, 2_500, 5_000]);
    else if (rng.chance(0.4)) {
      // An audited job: quorum = redundancy <= 2 (collateral 20 >= two rewards of at most 10).
      params.redundancy = params.quorum = rng.int(1, 2);
      params.auditBps = rng.pick([5_000, 10_000]);
      // Its original slots take claims until 2 leases + 3 reveal windows after their lease before the deadline.
      params.leaseDuration = rng.pick([30, 120]);
      params.revealWindow = 30;
      params.deadline = Number(now) + 3600;
    }
    const audited = params.auditBps ? `audited ${params.auditBps} bps, ` : "";
    return attempt(`createJob(r=${params.redundancy}, q=${params.quorum}, ${params.verification === Verification.Tolerant ? `tolerant ${params.toleranceBps} bps, ` : audited}segments=${params.segmentCount})`, () => market.connect(d.requester).createJob(params));
  }
  const jobId = job!.jobId;
  if (roll < 20) {
    // A claim request: its ticket resolves in a later block, in passing or by resolveClaims.
    const p = rng.pick(d.providers);
    const count = rng.int(1, 3);
    return attempt(`requestClaim(${jobId}, ${count}) by ${p.address.slice(0, 6)}`, () => market.connect(p).requestClaim(jobId, count));
  }
  if (roll < 24 && job!.params.auditBps > 0) {
    // The audit draw of the segments that reached quorum (a replica's node calls it a block later).
    const verifying = [...Array(job!.params.segmentCount).keys()].filter((s) => segmentOf(job!, s)?.status === SegmentStatus.Verifying);
    const segments = verifying.length && rng.chance(0.9) ? verifying : [rng.int(0, job!.params.segmentCount - 1)];
    return attempt(`auditSegments(${jobId}, [${segments}])`, () => market.connect(d.keeper).auditSegments(jobId, segments));
  }
  if (roll < 27) {
    const p = rng.pick([...d.providers, d.keeper]);
    return attempt(`resolveClaims(${jobId}) by ${p.address.slice(0, 6)}`, () => market.connect(p).resolveClaims(jobId));
  }
  if (roll < 47) {
    const claimed = slotsIn(state, jobId, [ReplicaState.Claimed]);
    if (claimed.length === 0) return "nothing to commit";
    const slot = rng.pick(claimed);
    const p = signerOf(slot.provider);
    // The link of the segment's blind round, as the fold has it (a provider node reads it the same way).
    const round = segmentOf(job!, slot.segment)?.round ?? 0;
    const digest = linkOf(rng.chance(0.8) ? digestOf(`segment:${slot.segment}`) : digestOf(`garbage:${slot.segment}:${slot.replica}`), round);
    const salt = ethers.keccak256(ethers.toUtf8Bytes(`salt:${jobId}:${slot.segment}:${slot.replica}:${rng.int(0, 1e9)}`));
    const fingerprint = job!.params.verification === Verification.Tolerant ? randomFingerprint(rng, jobId, slot.segment, slot.replica) : undefined;
    const commitment = commitmentOf(digest, salt, p.address, jobId, slot.segment, fingerprint);
    const step = `commit(${jobId}, ${slot.segment}/${slot.replica})`;
    const result = await attempt(step, () => market.connect(p).commit(jobId, [{ segment: slot.segment, replica: slot.replica, commitment }]));
    if (result === step) secrets.committed.set(key(jobId, slot.segment, slot.replica), { digest, salt, commitment, fingerprint });
    return result;
  }
  if (roll < 69) {
    // Reveal a committed slot, or reveal directly a claimed one (allowed once every other slot is sealed).
    const direct = rng.chance(0.25);
    const candidates = slotsIn(state, jobId, [direct ? ReplicaState.Claimed : ReplicaState.Committed]);
    if (candidates.length === 0) return "nothing to reveal";
    const slot = rng.pick(candidates);
    const p = signerOf(slot.provider);
    const secret = secrets.committed.get(key(jobId, slot.segment, slot.replica));
    const digest = secret?.digest ?? linkOf(rng.chance(0.8) ? digestOf(`segment:${slot.segment}`) : digestOf(`other:${slot.segment}`), segmentOf(job!, slot.segment)?.round ?? 0);
    const salt = secret?.salt ?? ethers.keccak256(ethers.toUtf8Bytes(`direct:${jobId}:${slot.segment}:${slot.replica}`));
    const tolerant = job!.params.verification === Verification.Tolerant;
    const fingerprint = tolerant ? (secret?.fingerprint ?? randomFingerprint(rng, jobId, slot.segment, slot.replica)) : "0x";
    // A Tolerant reveal passes its peers' fingerprints as the fold read them from ReplicasRevealed.
    const peerFingerprints = tolerant ? peerFingerprintsOf(segmentOf(job!, slot.segment)) : [];
    const input = { segment: slot.segment, replica: slot.replica, digest, salt, resultCid: `bafyresult-${slot.segment}-${digest.slice(2, 8)}`, fingerprint, peerFingerprints };
    return attempt(`${direct ? "direct " : ""}reveal(${jobId}, ${slot.segment}/${slot.replica})`, () => market.connect(p).reveal(jobId, [input]));
  }
  if (roll < 72) {
    const claimed = slotsIn(state, jobId, [ReplicaState.Claimed]);
    if (claimed.length === 0) return "nothing to abandon";
    const slot = rng.pick(claimed);
    return attempt(`abandon(${jobId}, ${slot.segment}/${slot.replica})`, () => market.connect(signerOf(slot.provider)).abandon(jobId, [{ segment: slot.segment, replica: slot.replica }], 1, "Parse Error: No objects in scene."));
  }
  if (roll < 79) {
    const held = slotsIn(state, jobId, [ReplicaState.Claimed, ReplicaState.Committed]);
    if (held.length === 0) return "nothing to expire";
    const slot = rng.pick(held);
    return attempt(`expire(${jobId}, ${slot.segment}/${slot.replica})`, () => market.connect(d.keeper).expire(jobId, [{ segment: slot.segment, replica: slot.replica }]));
  }
  if (roll < 88) {
    const seconds = rng.pick([5, 5, 15, 31, 31, 61, 121, 301, 900]);
    await networkHelpers.time.increase(seconds);
    return `time +${seconds} s`;
  }
  if (roll < 89) return attempt(`cancelJob(${jobId})`, () => market.connect(d.requester).cancelJob(jobId));
  if (roll < 95) {
    const closable = [...Array(job!.params.segmentCount).keys()].filter((s) => isClosable(job!, segmentOf(job!, s), now + 1n));
    const segments = closable.length && rng.chance(0.8) ? closable : [rng.int(0, job!.params.segmentCount - 1)];
    return attempt(`closeSegments(${jobId}, [${segments}])`, () => market.connect(d.outsider).closeSegments(jobId, segments));
  }
  if (roll < 97) {
    const who = rng.pick<HardhatEthersSigner>([...d.providers, d.requester, d.keeper, d.admin]);
    return attempt(`withdraw by ${who.address.slice(0, 6)}`, () => market.connect(who).withdraw());
  }
  if (roll < 98) {
    const p = rng.pick(d.providers);
    return rng.chance(0.5)
      ? attempt(`requestUnstake by ${p.address.slice(0, 6)}`, () => registry.connect(p).requestUnstake(COLLATERAL))
      : attempt(`withdrawStake by ${p.address.slice(0, 6)}`, () => registry.connect(p).withdrawStake());
  }
  const fee = rng.pick([0, 100, 250]);
  return rng.chance(0.5)
    ? attempt(`scheduleFee(${fee})`, () => market.connect(d.admin).scheduleFee(fee))
    : attempt("applyFee", () => market.applyFee());
}

describe("the sdk event fold against the contracts (property)", function () {
  this.timeout(600_000);

  it(`after every step of ${RUNS} random action sequences, the folded state equals every view`, async function () {
    const base = Number(process.env.FOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const runs = process.env.FOLD_SEED ? 1 : RUNS;
    const outcomes: Record<string, number> = {};
    const seen = { created: 0, requested: 0, lapsed: 0, claimed: 0, committed: 0, revealed: 0, accepted: 0, expired: 0, closed: 0, tieBreakers: 0, audits: 0, disputes: 0 };
    for (let run = 0; run < runs; run++) {
      const seed = base + run;
      const rng = prng(seed);
      const d = await networkHelpers.loadFixture(deployFixture);
      const fold = createFold(emptyState());
      let last = -1;
      const catchUp = async () => {
        const { events, latest } = await eventsSince(d, last);
        fold.apply(events);
        last = latest;
        for (const e of events) {
          if (e.eventName === "JobCreated") seen.created++;
          if (e.eventName === "ReplicasClaimed") seen.claimed++;
          if (e.eventName === "ClaimRequested") seen.requested++;
          if (e.eventName === "ClaimLapsed") seen.lapsed++;
          if (e.eventName === "ReplicasCommitted") seen.committed++;
          if (e.eventName === "ReplicasRevealed") seen.revealed++;
          if (e.eventName === "SegmentAccepted") seen.accepted++;
          if (e.eventName === "ReplicaExpired") seen.expired++;
          if (e.eventName === "SegmentClosed") seen.closed++;
          if (e.eventName === "TieBreakerOpened") seen.tieBreakers++;
          if (e.eventName === "AuditOpened") seen.audits++;
          if (e.eventName === "AuditDisputed") seen.disputes++;
        }
      };
      await catchUp();
      const secrets: Secrets = { committed: new Map() };
      const history: string[] = [];
      for (let step = 0; step < STEPS; step++) {
        history.push(await act(d, rng, fold.state, secrets));
        const outcome = history[history.length - 1].replace(/\(\d[^)]*\)/g, "").replace(/ by 0x\w+/, "");
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        await catchUp();
        await checkAgainstViews(d, fold.state, secrets, seed, `step ${step}: ${history.slice(-6).join(" → ")}`);
      }
      // The open/cancelled job statuses also come out of the fold as the market reports them.
      for (const job of fold.state.jobs.values()) expect([JobStatus.Open, JobStatus.Cancelled]).to.include(job.status);
      for (const job of fold.state.jobs.values()) for (const seg of job.segments.values()) expect(Object.values(SegmentStatus)).to.include(seg.status);
    }
    if (process.env.FOLD_DEBUG) console.log(Object.entries(outcomes).sort((a, b) => b[1] - a[1]).slice(0, 30));
    console.log(`      fold property: seed ${base}, ${runs} run(s) × ${STEPS} steps; events seen: ${JSON.stringify(seen)}`);
    expect(seen.claimed).to.be.greaterThan(0);
  });
});
