import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getAddress, type Hex } from "viem";
import { checkEvents, compareWithChain, emptyViews, plannedReads, replicaKey, segmentKey } from "./compare.ts";
import {
  CreditKindNames,
  expectedReplicaView,
  expectedSegmentView,
  foldEvents,
  JobStatus,
  packSlot,
  ReplicaState,
  reputationScore,
  SegmentStatus,
  segmentOf,
  ZERO_ADDRESS,
  ZERO_SEAL,
  type FoldEvent,
  type ProtocolState,
} from "@tessellate/sdk/protocol";

// ------------------------------------------------------------------------------ a tiny event builder

const R = getAddress("0x1000000000000000000000000000000000000001"); // requester
const T = getAddress("0x7000000000000000000000000000000000000007"); // treasury
const K = getAddress("0x9000000000000000000000000000000000000009"); // keeper
const P1 = getAddress("0xA000000000000000000000000000000000000001");
const P2 = getAddress("0xA000000000000000000000000000000000000002");
const P3 = getAddress("0xA000000000000000000000000000000000000003");
const D1 = `0x${"d1".repeat(32)}` as Hex;
const D2 = `0x${"d2".repeat(32)}` as Hex;

type Ev = [name: string, args: Record<string, unknown>];

function history() {
  const events: FoldEvent[] = [];
  let block = 0n;
  return {
    events,
    /** One transaction in a new block. */
    tx(...list: Ev[]) {
      block++;
      const hash = `0x${block.toString(16).padStart(64, "0")}` as Hex;
      list.forEach(([eventName, args], logIndex) => events.push({ eventName, args, blockNumber: block, logIndex, transactionHash: hash }));
    },
  };
}

const kind = (name: (typeof CreditKindNames)[number]) => CreditKindNames.indexOf(name);
const REWARD = 1000n;
const COLLATERAL = 2000n;
const FEE_BPS = 100;
const UNIT = REWARD + (REWARD * BigInt(FEE_BPS)) / 10_000n; // 1010

function params(segmentCount: number, redundancy = 2, quorum = 2) {
  return {
    manifestCid: "bafymanifest",
    segmentCount,
    redundancy,
    quorum,
    rewardPerReplica: REWARD,
    collateralPerReplica: COLLATERAL,
    leaseDuration: 300,
    revealWindow: 120,
    deadline: 100_000n,
    minReputation: 0,
  };
}

function setup(h: ReturnType<typeof history>) {
  h.tx(["FeeChanged", { feeBps: FEE_BPS }], ["TreasuryChanged", { treasury: T }]);
  for (const p of [P1, P2, P3]) {
    h.tx(["ProviderRegistered", { provider: p, profileCid: "bafyprofile" }]);
    h.tx(["Staked", { provider: p, amount: 10_000n, staked: 10_000n }]);
  }
}

/** The views a correct contract would report for a state (used to show a clean comparison). */
function viewsOf(state: ProtocolState) {
  const views = emptyViews();
  views.jobCount = BigInt(state.jobs.size);
  views.totalEscrow = state.totalEscrow;
  views.totalBalances = state.totalBalances;
  views.totalStaked = state.totalStaked;
  views.marketTokenBalance = state.totalEscrow + state.totalBalances;
  views.registryTokenBalance = state.totalStaked;
  for (const job of state.jobs.values()) {
    views.jobs.set(job.jobId, {
      requester: job.requester,
      status: job.status,
      segmentCount: job.params.segmentCount,
      segmentsTouched: job.segmentsTouched,
      redundancy: job.params.redundancy,
      quorum: job.params.quorum,
      feeBps: job.feeBps,
      minReputation: job.params.minReputation,
      rewardPerReplica: job.params.rewardPerReplica,
      collateralPerReplica: job.params.collateralPerReplica,
      leaseDuration: job.params.leaseDuration,
      revealWindow: job.params.revealWindow,
      deadline: job.params.deadline,
      escrow: job.escrow,
      verification: job.params.verification,
      toleranceBps: job.params.toleranceBps,
      auditBps: job.params.auditBps,
    });
  }
  const plan = plannedReads(state);
  for (const { jobId, segment } of plan.segments) {
    const job = state.jobs.get(jobId)!;
    views.segments.set(segmentKey(jobId, segment), expectedSegmentView(job, segmentOf(job, segment)));
  }
  for (const { jobId, segment, replica } of plan.replicas) {
    const seg = segmentOf(state.jobs.get(jobId)!, segment);
    const v = expectedReplicaView(seg, seg.replicas[replica]);
    views.replicas.set(replicaKey(jobId, segment, replica), { ...v, seal: v.seal ?? ZERO_SEAL });
  }
  for (const [account, balance] of state.balances) views.balances.set(account, balance);
  for (const p of state.providers.values()) {
    views.providers.set(p.address, { registered: p.registered, staked: p.staked, locked: p.locked, unbonding: p.unbonding, unbondingReadyAt: p.unbondingReadyAt, ...p.reputation });
  }
  return views;
}

/** Job 1: two segments, two providers agree on both; one provider withdraws. */
function happyPath(h: ReturnType<typeof history>) {
  h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(2), feeBps: FEE_BPS, escrow: 4n * UNIT }]);
  h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0), packSlot(1, 0)] }], ["CollateralLocked", { provider: P1, amount: 2n * COLLATERAL, locked: 2n * COLLATERAL }]);
  h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 401n, slots: [packSlot(1, 1), packSlot(0, 1)] }], ["CollateralLocked", { provider: P2, amount: 2n * COLLATERAL, locked: 2n * COLLATERAL }]);
  h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0), packSlot(1, 0)] }]);
  h.tx(["ReplicasCommitted", { jobId: 1n, provider: P2, slots: [packSlot(0, 1), packSlot(1, 1)] }], ["RevealsOpened", { jobId: 1n, revealDeadline: 600n, segments: [0, 1] }]);
  h.tx(["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0), packSlot(1, 0)], digests: [D1, D2] }]);
  h.tx(
    ["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1), packSlot(1, 1)], digests: [D1, D2] }],
    ["SegmentAccepted", { jobId: 1n, segment: 0, digest: D1, resultCid: "bafyresult0" }],
    ["SegmentAccepted", { jobId: 1n, segment: 1, digest: D2, resultCid: "bafyresult1" }],
    ["Credited", { account: P1, jobId: 1n, kind: kind("Reward"), amount: 2n * REWARD }],
    ["Credited", { account: T, jobId: 1n, kind: kind("Fee"), amount: 4n * (UNIT - REWARD) }],
    ["Credited", { account: P2, jobId: 1n, kind: kind("Reward"), amount: 2n * REWARD }],
    ["CollateralUnlocked", { provider: P1, amount: 2n * COLLATERAL, locked: 0n }],
    ["ReputationUpdated", { provider: P1, accepted: 2, rejected: 0, expired: 0, abandoned: 0, score: reputationScore({ accepted: 2, rejected: 0, expired: 0, abandoned: 0 }) }],
    ["CollateralUnlocked", { provider: P2, amount: 2n * COLLATERAL, locked: 0n }],
    ["ReputationUpdated", { provider: P2, accepted: 2, rejected: 0, expired: 0, abandoned: 0, score: reputationScore({ accepted: 2, rejected: 0, expired: 0, abandoned: 0 }) }],
  );
  h.tx(["Withdrawn", { account: P1, amount: 2n * REWARD }]);
}

describe("audit rebuild", () => {
  it("rebuilds escrow, balances, stakes, segments and reputation of a job that settled", () => {
    const h = history();
    setup(h);
    happyPath(h);
    const state = foldEvents(h.events);
    assert.deepEqual(state.anomalies, []);
    const job = state.jobs.get(1n)!;
    assert.equal(job.escrowCreated, 4n * UNIT);
    assert.equal(job.escrow, 0n);
    assert.equal(job.status, JobStatus.Open);
    assert.equal(job.segmentsTouched, 2);
    assert.equal(job.credits.Reward, 4n * REWARD);
    assert.equal(job.credits.Fee, 40n);
    for (const index of [0, 1]) {
      const seg = segmentOf(job, index);
      assert.equal(seg.status, SegmentStatus.Accepted);
      assert.equal(seg.cleared, true, "a settled segment without a pending replica is cleared");
      assert.deepEqual([seg.assigned, seg.committed, seg.revealed], [2, 2, 2]);
      assert.deepEqual(seg.replicas.map((r) => [r.state, r.verdict]), [[ReplicaState.Settled, "accepted"], [ReplicaState.Settled, "accepted"]]);
      // what the contract must report: cleared slots and no accepted seal
      assert.deepEqual(expectedReplicaView(seg, seg.replicas[0]), { provider: ZERO_ADDRESS, state: 0, leaseEnd: 0n, seal: ZERO_SEAL });
      assert.equal(expectedSegmentView(job, seg).acceptedSeal, ZERO_SEAL);
    }
    assert.equal(segmentOf(job, 1).accepted?.resultCid, "bafyresult1");
    assert.equal(state.balances.get(P1), 0n);
    assert.equal(state.balances.get(P2), 2n * REWARD);
    assert.equal(state.balances.get(T), 40n);
    assert.equal(state.totalEscrow, 0n);
    assert.equal(state.totalBalances, 2n * REWARD + 40n);
    assert.equal(state.totalStaked, 30_000n);
    const p1 = state.providers.get(P1)!;
    assert.equal(p1.locked, 0n);
    assert.deepEqual(p1.derived, { accepted: 2, rejected: 0, expired: 0, abandoned: 0 });
    assert.equal(p1.reputation.accepted, 2);
    assert.deepEqual(checkEvents(state), []);
    assert.deepEqual(compareWithChain(state, viewsOf(state)), []);
  });

  it("accepts a direct reveal: the last replica of a segment reveals without committing once its peer is sealed", () => {
    const h = history();
    setup(h);
    h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(1), feeBps: FEE_BPS, escrow: 2n * UNIT }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }], ["CollateralLocked", { provider: P1, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 401n, slots: [packSlot(0, 1)] }], ["CollateralLocked", { provider: P2, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    // P2 reveals directly; its reveal opens the window for P1 (RevealsOpened ends the transaction).
    h.tx(["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)], digests: [D1] }], ["RevealsOpened", { jobId: 1n, revealDeadline: 600n, segments: [0] }]);
    h.tx(
      ["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)], digests: [D1] }],
      ["SegmentAccepted", { jobId: 1n, segment: 0, digest: D1, resultCid: "bafyresult0" }],
      ["Credited", { account: P1, jobId: 1n, kind: kind("Reward"), amount: REWARD }],
      ["Credited", { account: P2, jobId: 1n, kind: kind("Reward"), amount: REWARD }],
      ["Credited", { account: T, jobId: 1n, kind: kind("Fee"), amount: 2n * (UNIT - REWARD) }],
      ["CollateralUnlocked", { provider: P1, amount: COLLATERAL, locked: 0n }],
      ["ReputationUpdated", { provider: P1, accepted: 1, rejected: 0, expired: 0, abandoned: 0, score: reputationScore({ accepted: 1, rejected: 0, expired: 0, abandoned: 0 }) }],
      ["CollateralUnlocked", { provider: P2, amount: COLLATERAL, locked: 0n }],
      ["ReputationUpdated", { provider: P2, accepted: 1, rejected: 0, expired: 0, abandoned: 0, score: reputationScore({ accepted: 1, rejected: 0, expired: 0, abandoned: 0 }) }],
    );
    const state = foldEvents(h.events);
    assert.deepEqual(state.anomalies, []);
    const seg = segmentOf(state.jobs.get(1n)!, 0);
    assert.equal(seg.status, SegmentStatus.Accepted);
    assert.deepEqual([seg.assigned, seg.committed, seg.revealed], [2, 2, 2], "the direct reveal counts as the last commit, as on-chain");
    assert.deepEqual(checkEvents(state), []);
    assert.deepEqual(compareWithChain(state, viewsOf(state)), []);
  });

  it("reports a reveal without a commitment while another slot is still unsealed", () => {
    const h = history();
    setup(h);
    h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(1), feeBps: FEE_BPS, escrow: 2n * UNIT }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }], ["CollateralLocked", { provider: P1, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 401n, slots: [packSlot(0, 1)] }], ["CollateralLocked", { provider: P2, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)], digests: [D1] }]);
    const state = foldEvents(h.events);
    const problems = state.anomalies.map((a) => `${a.subject}: ${a.problem}`);
    assert.ok(problems.some((p) => /revealed without a commitment while 1 other slot\(s\) were unsealed/.test(p)), problems.join("\n"));
  });

  it("follows a tie-breaker: the loser is slashed, the tie-breaker paid from its collateral, the requester compensated", () => {
    const h = history();
    setup(h);
    h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(1), feeBps: FEE_BPS, escrow: 2n * UNIT }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }], ["CollateralLocked", { provider: P1, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 400n, slots: [packSlot(0, 1)] }], ["CollateralLocked", { provider: P2, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)] }], ["RevealsOpened", { jobId: 1n, revealDeadline: 600n, segments: [0] }]);
    h.tx(["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)], digests: [D1] }]);
    h.tx(["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)], digests: [D2] }], ["TieBreakerOpened", { jobId: 1n, segment: 0, slots: 3 }]);
    let state = foldEvents(h.events);
    let seg = segmentOf(state.jobs.get(1n)!, 0);
    assert.deepEqual([seg.slots, seg.tieBreakers, seg.revealDeadline, seg.cleared], [3, 1, 0n, false]);
    assert.equal(seg.replicas[1].state, ReplicaState.Revealed);

    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P3, leaseEnd: 900n, slots: [packSlot(0, 2)] }], ["CollateralLocked", { provider: P3, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P3, slots: [packSlot(0, 2)] }], ["RevealsOpened", { jobId: 1n, revealDeadline: 1000n, segments: [0] }]);
    h.tx(
      ["ReplicasRevealed", { jobId: 1n, provider: P3, slots: [packSlot(0, 2)], digests: [D1] }],
      ["SegmentAccepted", { jobId: 1n, segment: 0, digest: D1, resultCid: "bafyresult" }],
      ["ReplicaRejected", { jobId: 1n, segment: 0, replica: 1, provider: P2, slashed: COLLATERAL }],
      ["Credited", { account: P1, jobId: 1n, kind: kind("Reward"), amount: REWARD }],
      ["Credited", { account: T, jobId: 1n, kind: kind("Fee"), amount: UNIT - REWARD }],
      ["Credited", { account: P3, jobId: 1n, kind: kind("TieBreakerReward"), amount: REWARD }],
      ["Credited", { account: R, jobId: 1n, kind: kind("Compensation"), amount: COLLATERAL - REWARD }],
      ["Credited", { account: R, jobId: 1n, kind: kind("Refund"), amount: UNIT }],
      ["CollateralUnlocked", { provider: P1, amount: COLLATERAL, locked: 0n }],
      ["ReputationUpdated", { provider: P1, accepted: 1, rejected: 0, expired: 0, abandoned: 0, score: 6000 }],
      ["StakeSlashed", { provider: P2, amount: COLLATERAL, staked: 10_000n - COLLATERAL }],
      ["ReputationUpdated", { provider: P2, accepted: 0, rejected: 1, expired: 0, abandoned: 0, score: 2500 }],
      ["CollateralUnlocked", { provider: P3, amount: COLLATERAL, locked: 0n }],
      ["ReputationUpdated", { provider: P3, accepted: 1, rejected: 0, expired: 0, abandoned: 0, score: 6000 }],
    );
    state = foldEvents(h.events);
    assert.deepEqual(state.anomalies, []);
    const job = state.jobs.get(1n)!;
    seg = segmentOf(job, 0);
    assert.equal(seg.status, SegmentStatus.Accepted);
    assert.deepEqual(seg.replicas.map((r) => r.verdict), ["accepted", "rejected", "accepted"]);
    assert.equal(seg.cleared, true);
    assert.equal(job.escrow, 0n);
    assert.equal(job.creditsToRequester.Compensation, COLLATERAL - REWARD);
    assert.equal(job.creditsToRequester.Refund, UNIT);
    assert.equal(state.providers.get(P2)!.staked, 10_000n - COLLATERAL);
    assert.equal(state.providers.get(P2)!.locked, 0n);
    assert.equal(state.totalStaked, 30_000n - COLLATERAL);
    assert.deepEqual(checkEvents(state), []);
    assert.deepEqual(compareWithChain(state, viewsOf(state)), []);
  });

  it("reopens an expired lease, then refunds the segment when the cancelled job closes it", () => {
    const h = history();
    setup(h);
    h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(2), feeBps: FEE_BPS, escrow: 4n * UNIT }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }], ["CollateralLocked", { provider: P1, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(
      ["ReplicaExpired", { jobId: 1n, segment: 0, replica: 0, provider: P1, keeper: K, slashed: COLLATERAL }],
      ["Credited", { account: K, jobId: 1n, kind: kind("KeeperFee"), amount: 200n }],
      ["Credited", { account: R, jobId: 1n, kind: kind("Compensation"), amount: 1800n }],
      ["StakeSlashed", { provider: P1, amount: COLLATERAL, staked: 10_000n - COLLATERAL }],
      ["ReputationUpdated", { provider: P1, accepted: 0, rejected: 0, expired: 1, abandoned: 0, score: 3333 }],
    );
    let state = foldEvents(h.events);
    let seg = segmentOf(state.jobs.get(1n)!, 0);
    assert.deepEqual([seg.status, seg.assigned, seg.replicas[0].state], [SegmentStatus.Open, 0, ReplicaState.Empty], "expire() on an open segment reopens the slot");

    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 900n, slots: [packSlot(0, 0)] }], ["CollateralLocked", { provider: P2, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["JobCancelled", { jobId: 1n, refunded: 2n * UNIT }], ["Credited", { account: R, jobId: 1n, kind: kind("Refund"), amount: 2n * UNIT }]);
    h.tx(
      ["ReplicaReleased", { jobId: 1n, segment: 0, replica: 0, provider: P2 }],
      ["SegmentClosed", { jobId: 1n, segment: 0 }],
      ["Credited", { account: R, jobId: 1n, kind: kind("Refund"), amount: 2n * UNIT }],
      ["CollateralUnlocked", { provider: P2, amount: COLLATERAL, locked: 0n }],
    );
    h.tx(["Withdrawn", { account: R, amount: 4n * UNIT + 1800n }]);
    state = foldEvents(h.events);
    assert.deepEqual(state.anomalies, []);
    const job = state.jobs.get(1n)!;
    assert.equal(job.status, JobStatus.Cancelled);
    assert.equal(job.escrow, 0n);
    seg = segmentOf(job, 0);
    assert.deepEqual([seg.status, seg.cleared, seg.replicas[0].verdict], [SegmentStatus.Closed, true, "released"]);
    assert.equal(segmentOf(job, 1).slots, 0, "the untouched segment was refunded by the cancellation");
    assert.equal(state.balances.get(R), 0n);
    assert.equal(state.balances.get(K), 200n);
    assert.deepEqual(state.providers.get(P1)!.derived, { accepted: 0, rejected: 0, expired: 1, abandoned: 0 });
    assert.deepEqual(checkEvents(state), []);
    assert.deepEqual(compareWithChain(state, viewsOf(state)), []);
  });

  it("reports a deliberately inconsistent history and contract: over-paid escrow, impossible transitions, wrong balances", () => {
    const h = history();
    setup(h);
    happyPath(h);
    // A refund the escrow cannot cover, a commit to a slot nobody claimed, a reputation the replica events do not support.
    h.tx(["Credited", { account: R, jobId: 1n, kind: kind("Refund"), amount: 5n }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P3, slots: [packSlot(0, 2)] }]);
    h.tx(["ReputationUpdated", { provider: P3, accepted: 7, rejected: 0, expired: 0, abandoned: 0, score: 9000 }]);
    h.tx(["Staked", { provider: P3, amount: 5n, staked: 1n }]);
    const state = foldEvents(h.events);

    const problems = state.anomalies.map((a) => `${a.subject}: ${a.problem}`);
    assert.ok(problems.some((p) => p.includes("job 1") && p.includes("escrow below zero")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("segment 0 replica 2") && p.includes("Empty")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("reported score 9000")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("staked = 1")), problems.join("\n"));
    const fromEvents = checkEvents(state);
    assert.ok(fromEvents.some((d) => d.subject === `provider ${P3}` && d.field === "reputation.accepted" && d.expected.startsWith("0") && d.actual.startsWith("7")));

    // The contract disagrees on a balance and a replica, and the market's tokens are short.
    const views = viewsOf(foldEvents(h.events.slice(0, h.events.length)));
    views.balances.set(P2, 2n * REWARD - 1n);
    views.marketTokenBalance = views.marketTokenBalance! - 7n;
    views.replicas.set(replicaKey(1n, 0, 0), { provider: P1, state: ReplicaState.Settled, leaseEnd: 400n, seal: ZERO_SEAL });
    const found = compareWithChain(state, views);
    const balance = found.find((d) => d.subject === `account ${P2}` && d.field === "balance");
    assert.ok(balance, JSON.stringify(found, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
    assert.match(balance.expected, /2,000|2000/);
    assert.match(balance.actual, /1999/);
    assert.ok(found.some((d) => d.source === "token" && d.subject === "market"));
    assert.ok(found.some((d) => d.subject === "job 1 segment 0 replica 0" && d.field === "state" && d.expected.startsWith("Empty") && d.actual.startsWith("Settled")));
  });

  it("reads the per-replica events of earlier contract versions", () => {
    const h = history();
    setup(h);
    h.tx(["JobCreated", { jobId: 1n, requester: R, params: params(1, 1, 1), feeBps: FEE_BPS, escrow: UNIT }]);
    h.tx(["ReplicaClaimed", { jobId: 1n, segment: 0, replica: 0, provider: P1, leaseEnd: 400n }], ["CollateralLocked", { provider: P1, amount: COLLATERAL, locked: COLLATERAL }]);
    h.tx(["ReplicaCommitted", { jobId: 1n, segment: 0, replica: 0, provider: P1, commitment: `0x${"cc".repeat(32)}` }], ["RevealOpened", { jobId: 1n, segment: 0, revealDeadline: 500n }]);
    let state = foldEvents(h.events);
    assert.equal(segmentOf(state.jobs.get(1n)!, 0).replicas[0].seal, `0x${"cc".repeat(20)}`);
    h.tx(
      ["ReplicaRevealed", { jobId: 1n, segment: 0, replica: 0, provider: P1, digest: D1, resultCid: "bafyr" }],
      ["SegmentAccepted", { jobId: 1n, segment: 0, digest: D1, resultCid: "bafyr" }],
      ["ReplicaAccepted", { jobId: 1n, segment: 0, replica: 0, provider: P1 }],
      ["Credited", { account: P1, jobId: 1n, kind: kind("Reward"), amount: REWARD }],
      ["Credited", { account: T, jobId: 1n, kind: kind("Fee"), amount: UNIT - REWARD }],
      ["CollateralUnlocked", { provider: P1, amount: COLLATERAL, locked: 0n }],
      ["ReputationUpdated", { provider: P1, accepted: 1, rejected: 0, expired: 0, abandoned: 0, score: 6000 }],
    );
    state = foldEvents(h.events);
    assert.deepEqual(state.anomalies, []);
    assert.equal(state.providers.get(P1)!.derived.accepted, 1, "ReplicaAccepted confirms, it does not count twice");
    assert.equal(state.jobs.get(1n)!.escrow, 0n);
  });
});
