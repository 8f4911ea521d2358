import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeFunctionData, getAddress, type Hex } from "viem";
import { jobMarketAbi } from "../contracts.generated.ts";
import {
  abandonForfeit,
  applyCommitments,
  commitmentsFromCalldata,
  compareWithChain,
  emptyViews,
  readPendingCommitments,
  replicaKey,
  sealOf,
  createFold,
  dueAuditDraws,
  emptyState,
  expirableReason,
  foldEvents,
  isClosable,
  isSegmentClaimableBy,
  isStalled,
  jobEscrow,
  jobMarketConstants,
  JobStatus,
  keeperFee,
  packSlot,
  providerRegistryConstants,
  ReplicaState,
  reputationScore,
  roundDigest,
  SegmentStatus,
  segmentOf,
  unitPrice,
  unpackSlot,
  type FoldEvent,
} from "./index.ts";

const R = getAddress("0x1000000000000000000000000000000000000001");
const K = getAddress("0x9000000000000000000000000000000000000009");
const P1 = getAddress("0xA000000000000000000000000000000000000001");
const P2 = getAddress("0xA000000000000000000000000000000000000002");
const COLLATERAL = 2000n;

function history() {
  const events: FoldEvent[] = [];
  let block = 0n;
  return {
    events,
    tx(...list: [string, Record<string, unknown>][]) {
      block++;
      const hash = `0x${block.toString(16).padStart(64, "0")}` as Hex;
      list.forEach(([eventName, args], logIndex) => events.push({ eventName, args, blockNumber: block, logIndex, transactionHash: hash }));
    },
  };
}

const params = { manifestCid: "bafy", segmentCount: 2, redundancy: 2, quorum: 2, rewardPerReplica: 1000n, collateralPerReplica: COLLATERAL, leaseDuration: 300, revealWindow: 120, deadline: 1000n, minReputation: 0 };

describe("protocol constants", () => {
  it("are generated from the contracts: MAX_BATCH, KEEPER_FEE_BPS and the bounds match the Solidity sources", () => {
    assert.equal(jobMarketConstants.MAX_BATCH, 64);
    assert.equal(jobMarketConstants.KEEPER_FEE_BPS, 1000);
    assert.equal(jobMarketConstants.TIMING_FLOOR, 30);
    assert.equal(jobMarketConstants.MAX_LEASE, 7 * 86_400);
    assert.equal(providerRegistryConstants.MAX_SCORE, 10_000);
    // The market's constants are internal (no ABI getters: code size), and generated all the same.
    for (const name of ["MAX_FEE_BPS", "FEE_DELAY", "ABANDON_FORFEIT_BPS", "COMMIT_WAIT_LEASES", "SCENE_FAULT_FEE_BPS", "MAX_REPUTATION"]) {
      assert.ok(name in jobMarketConstants, `${name} is generated`);
    }
    // Any constant that is still a getter in the ABI has a generated value.
    const abi = jobMarketAbi as readonly { type: string; name?: string; stateMutability?: string; inputs?: readonly unknown[] }[];
    const getters = abi.filter((item) => item.type === "function" && item.stateMutability === "view" && item.inputs?.length === 0 && /^[A-Z_]+$/.test(item.name ?? ""));
    for (const getter of getters) assert.ok(getter.name! in jobMarketConstants, `${getter.name} is generated`);
  });
});

describe("protocol rules", () => {
  it("an audit draw is due once the block after the quorum block exists (JobMarket.auditSegments), for Verifying segments only", () => {
    const seg = (status: number, quorumBlock: bigint) => ({ status, revealDeadline: quorumBlock });
    const job = { segments: new Map([[2, seg(SegmentStatus.Verifying, 10n)], [0, seg(SegmentStatus.Verifying, 12n)], [1, seg(SegmentStatus.Open, 5n)], [3, seg(SegmentStatus.Auditing, 0n)]]) };
    assert.deepEqual(dueAuditDraws(job, 10n), [], "not in the quorum block itself");
    assert.deepEqual(dueAuditDraws(job, 11n), [2]);
    assert.deepEqual(dueAuditDraws(job, 13n), [0, 2], "in segment order");
  });

  it("packs and unpacks slots as segment << 8 | replica", () => {
    assert.equal(packSlot(3, 2), 0x302n);
    assert.deepEqual(unpackSlot(0x302n), { segment: 3, replica: 2 });
  });

  it("prices like the contract: fee rounded down, escrow per job, keeper fee per slot", () => {
    assert.equal(unitPrice(1000n, 100), 1010n);
    assert.equal(unitPrice(99n, 100), 99n);
    assert.equal(jobEscrow(params, 100), 2n * 2n * 1010n);
    assert.equal(keeperFee(2000n, 3), 600n);
  });

  it("scores reputation like the registry", () => {
    assert.equal(reputationScore({ accepted: 0, rejected: 0, expired: 0, abandoned: 0 }), 5000);
    assert.equal(reputationScore({ accepted: 2, rejected: 1, expired: 0, abandoned: 0 }), Math.floor((4 * 10_000) / 10));
  });

  it("decides closable, expirable and claimable as JobMarket does", () => {
    const open = { status: JobStatus.Open, params };
    const cancelled = { status: JobStatus.Cancelled, params };
    const untouched = { status: SegmentStatus.Open, slots: 0, assigned: 0, revealDeadline: 0n };
    const partial = { status: SegmentStatus.Open, slots: 2, assigned: 1, revealDeadline: 0n };
    const revealing = { status: SegmentStatus.Open, slots: 2, assigned: 2, revealDeadline: 1100n };
    assert.equal(isClosable(open, partial, 500n), false, "open job before its deadline");
    assert.equal(isClosable(cancelled, partial, 500n), true, "cancelled, not every slot held");
    assert.equal(isClosable(cancelled, untouched, 500n), false, "refunded by cancelJob");
    assert.equal(isClosable(open, untouched, 1001n), true, "past the deadline");
    assert.equal(isClosable(cancelled, untouched, 1001n), false, "cancelled and untouched: already refunded");
    assert.equal(isClosable(open, revealing, 1001n), false, "reveal window running");
    assert.equal(isClosable(open, revealing, 1101n), true);
    assert.equal(isClosable(open, { ...partial, status: SegmentStatus.Accepted }, 2000n), false);

    assert.equal(expirableReason({ revealDeadline: 0n }, { state: ReplicaState.Claimed, leaseEnd: 400n }, 400n), undefined);
    assert.equal(expirableReason({ revealDeadline: 0n }, { state: ReplicaState.Claimed, leaseEnd: 400n }, 401n), "lease");
    assert.equal(expirableReason({ revealDeadline: 0n }, { state: ReplicaState.Committed, leaseEnd: 400n }, 9999n), undefined, "reveal window not open");
    assert.equal(expirableReason({ revealDeadline: 500n }, { state: ReplicaState.Committed, leaseEnd: 400n }, 501n), "reveal");

    const held = [{ provider: P1, state: ReplicaState.Claimed }];
    assert.equal(isSegmentClaimableBy(partial, held, P2, 2), true);
    assert.equal(isSegmentClaimableBy(partial, held, P1, 2), false, "never two replicas of one segment");
    assert.equal(isSegmentClaimableBy(untouched, [], P1, 2), true);
    assert.equal(isSegmentClaimableBy(revealing, [], P2, 2), false, "every slot taken");

    // Hostage slots (issue 9.4): a give-back leaves its holder and lease end in the emptied slot.
    const givenBack = [{ provider: P1, state: ReplicaState.Empty, leaseEnd: 400n }];
    const lease = params.leaseDuration;
    const at = (now: bigint) => ({ now, leaseDuration: lease });
    assert.equal(isSegmentClaimableBy(partial, givenBack, P1, 2, at(400n + BigInt(lease))), false, "cooling down until lease end + one lease");
    assert.equal(isSegmentClaimableBy(partial, givenBack, P1, 2, at(401n + BigInt(lease))), true);
    assert.equal(isSegmentClaimableBy(partial, givenBack, P1, 2), false, "without a time, a give-back counts as cooling down");
    assert.equal(isSegmentClaimableBy(partial, givenBack, P2, 2, at(400n)), true, "others may take it at once");
    const committedAt400 = { ...partial, committed: 1, replicas: [{ state: ReplicaState.Committed, leaseEnd: 400n }] };
    const wait = BigInt(lease * jobMarketConstants.COMMIT_WAIT_LEASES);
    const longJob = { status: JobStatus.Open, params: { ...params, deadline: 100_000n } };
    assert.equal(isStalled(longJob, committedAt400, 400n + wait), false);
    assert.equal(isStalled(longJob, committedAt400, 401n + wait), true);
    assert.equal(isClosable(longJob, committedAt400, 400n + wait), false);
    assert.equal(isClosable(longJob, committedAt400, 401n + wait), true, "a committed replica waited COMMIT_WAIT_LEASES leases");
    assert.equal(isClosable(longJob, { ...committedAt400, revealDeadline: 9999n }, 401n + wait), false, "its reveal window opened");
    const collateral = { collateralPerReplica: 1_000n, leaseDuration: 100 };
    assert.equal(abandonForfeit(collateral, 1100n, 1000n), 0n, "right after the claim");
    assert.equal(abandonForfeit(collateral, 1100n, 1050n), 250n, "half the lease: a quarter");
    assert.equal(abandonForfeit(collateral, 1100n, 1100n), 500n, "at the lease end: half");
  });
});

describe("the event fold", () => {
  /** A job whose segment 0 has a committed and a claimed replica, both missed. */
  function missed() {
    const h = history();
    h.tx(["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: jobEscrow(params, 0) }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 400n, slots: [packSlot(0, 1)] }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    return h;
  }

  it("closeSegments: a ReplicaExpired emitted before its SegmentClosed settles the slot instead of reopening it", () => {
    const h = missed();
    h.tx(
      ["ReplicaExpired", { jobId: 1n, segment: 0, replica: 1, provider: P2, keeper: K, slashed: COLLATERAL }],
      ["ReplicaReleased", { jobId: 1n, segment: 0, replica: 0, provider: P1 }],
      ["SegmentClosed", { jobId: 1n, segment: 0 }],
    );
    const seg = segmentOf(foldEvents(h.events).jobs.get(1n)!, 0);
    assert.equal(seg.status, SegmentStatus.Closed);
    assert.deepEqual(seg.replicas.map((r) => [r.provider, r.state, r.verdict]), [[P1, ReplicaState.Settled, "released"], [P2, ReplicaState.Settled, "expired"]]);
    assert.equal(seg.assigned, 2, "nothing reopened");
  });

  it("expire on an open segment reopens the slot", () => {
    const h = missed();
    h.tx(["ReplicaExpired", { jobId: 1n, segment: 0, replica: 1, provider: P2, keeper: K, slashed: COLLATERAL }]);
    const seg = segmentOf(foldEvents(h.events).jobs.get(1n)!, 0);
    assert.deepEqual([seg.status, seg.assigned, seg.replicas[1].state], [SegmentStatus.Open, 1, ReplicaState.Empty]);
  });

  it("blind rounds: a round opened after a reveal makes a later link compare with link 0; a round opened without one is an anomaly", () => {
    const P3 = getAddress("0xA000000000000000000000000000000000000003");
    const pixels = `0x${"ab".repeat(32)}` as Hex;
    const h = missed();
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)] }], ["RevealsOpened", { jobId: 1n, revealDeadline: 500n, segments: [0] }]);
    h.tx(["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)], digests: [roundDigest(pixels, 0)], resultCids: ["bafyA"], fingerprints: ["0x"] }]);
    h.tx(["ReplicaExpired", { jobId: 1n, segment: 0, replica: 1, provider: P2, keeper: K, slashed: COLLATERAL }], ["BlindRoundOpened", { jobId: 1n, segment: 0, round: 1 }]);
    h.tx(["ReplicasClaimed", { jobId: 1n, provider: P3, leaseEnd: 900n, slots: [packSlot(0, 1)] }]);
    h.tx(
      ["ReplicasRevealed", { jobId: 1n, provider: P3, slots: [packSlot(0, 1)], digests: [roundDigest(pixels, 1)], resultCids: ["bafyC"], fingerprints: ["0x"] }],
      ["RevealsOpened", { jobId: 1n, revealDeadline: 1000n, segments: [0] }],
      ["SegmentAccepted", { jobId: 1n, segment: 0, replica: 0, agreeing: 3 }],
    );
    const state = foldEvents(h.events);
    const seg = segmentOf(state.jobs.get(1n)!, 0);
    assert.equal(seg.round, 1);
    assert.equal(seg.replicas[1]!.seal, seg.replicas[0]!.seal, "link 1 hashed down to link 0 is the seal of link 0");
    assert.equal(seg.replicas[1]!.revealRound, 1);
    assert.deepEqual(state.anomalies.filter((a) => /round/.test(a.problem)), []);

    const wrong = missed();
    wrong.tx(["BlindRoundOpened", { jobId: 1n, segment: 0, round: 1 }]);
    assert.ok(foldEvents(wrong.events).anomalies.some((a) => /blind round 1 opened while no replica had revealed in round 0/.test(a.problem)));
  });

  it("records anomalies only with checks on", () => {
    const h = history();
    h.tx(["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: 1n }]);
    h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    assert.equal(foldEvents(h.events).anomalies.length, 2);
    assert.equal(foldEvents(h.events, { checks: false }).anomalies.length, 0);
  });

  it("folds incrementally, one whole transaction at a time, telling which segments each touched", () => {
    const h = missed();
    const seen: number[][] = [];
    const fold = createFold(emptyState(), { onTransaction: (touched) => seen.push([...touched].map((s) => s.index)) });
    fold.apply(h.events.slice(0, 2));
    fold.apply(h.events.slice(2));
    assert.deepEqual(seen, [[], [0], [0], [0]]);
    assert.deepEqual(fold.state, foldEvents(h.events));
  });
});

describe("committed seals from commit calldata (the audit's seal check, CLI and dApp)", () => {
  const commitment = `0x${"ab".repeat(32)}` as Hex;
  const h = history();
  h.tx(["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: jobEscrow(params, 0) }]);
  h.tx(["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0), packSlot(1, 0)] }]);
  h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
  h.tx(["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(1, 0)] }]);
  const [, , directTx, viaContractTx] = h.events.map((e) => e.transactionHash);
  const inputs = new Map<Hex, Hex>([
    [directTx!, encodeFunctionData({ abi: jobMarketAbi, functionName: "commit", args: [1n, [{ segment: 0, replica: 0, commitment }]] })],
    [viaContractTx!, "0x12345678"], // a multisig or batching contract: not decodable as commit
  ]);
  const read = (hash: Hex) => Promise.resolve(inputs.get(hash)!);

  it("decodes a commit call and nothing else", () => {
    assert.deepEqual([...commitmentsFromCalldata(inputs.get(directTx!)!)!], [["1:0:0", commitment]]);
    assert.equal(commitmentsFromCalldata("0x12345678"), undefined);
  });

  it("fills the seal of committed replicas and counts the ones it cannot check", async () => {
    const state = foldEvents(h.events);
    const found = await readPendingCommitments(state, read);
    assert.deepEqual({ pending: found.pending, transactions: found.transactions, unchecked: found.unchecked }, { pending: 2, transactions: 2, unchecked: 1 });
    assert.equal(applyCommitments(state, found.commitments), 1);
    assert.equal(segmentOf(state.jobs.get(1n)!, 0).replicas[0]!.seal, sealOf(commitment));
    assert.equal(segmentOf(state.jobs.get(1n)!, 1).replicas[0]!.seal, undefined);
  });

  it("flags a replica whose seal on chain is not the one its provider committed (and cannot without the calldata)", async () => {
    const views = emptyViews();
    const forged = { provider: P1, state: ReplicaState.Committed, leaseEnd: 400n, seal: sealOf(`0x${"cd".repeat(32)}`) };
    views.replicas.set(replicaKey(1n, 0, 0), forged);
    const seals = (state: ReturnType<typeof foldEvents>) => compareWithChain(state, views, { complete: false }).filter((d) => d.field === "seal");
    const blind = foldEvents(h.events);
    assert.equal(seals(blind).length, 0, "without the calldata the seal is unknown and not compared");
    const state = foldEvents(h.events);
    applyCommitments(state, (await readPendingCommitments(state, read)).commitments);
    const found = seals(state);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.subject, "job 1 segment 0 replica 0");
    assert.equal(found[0]!.expected, sealOf(commitment));
  });
});
