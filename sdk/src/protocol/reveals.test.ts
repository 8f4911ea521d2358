/**
 * The off-chain re-check of revealed replicas (reveals.ts): the commitment in the commit
 * transaction's calldata recomputed from the reveal transaction's digest and salt, the revealed
 * digest compared with the event's; direct reveals, undecodable transactions and slots committed
 * again after an expiry.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeFunctionData, getAddress, type Hex } from "viem";
import { commitmentOf } from "../commitment.ts";
import { jobMarketAbi } from "../contracts.generated.ts";
import { checkRevealedCommitments, foldEvents, jobEscrow, packSlot, replicaReveals, revealsFromCalldata, type FoldEvent } from "./index.ts";

const R = getAddress("0x1000000000000000000000000000000000000001");
const P1 = getAddress("0xA000000000000000000000000000000000000001");
const P2 = getAddress("0xA000000000000000000000000000000000000002");
const P3 = getAddress("0xA000000000000000000000000000000000000003");
const params = { manifestCid: "bafy", segmentCount: 2, redundancy: 2, quorum: 2, rewardPerReplica: 1000n, collateralPerReplica: 2000n, leaseDuration: 300, revealWindow: 120, deadline: 1000n, minReputation: 0 };
const digest = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex;
const salt = (n: number) => `0x${(n + 0x40).toString(16).repeat(32)}` as Hex;

/** The reveal function's struct fields, from the generated ABI (a reveal also carries a fingerprint and the peers', empty in an exact job). */
const revealFields = (() => {
  const fn = jobMarketAbi.find((item) => item.type === "function" && item.name === "reveal") as { inputs: readonly { components?: readonly { name: string }[] }[] };
  return fn.inputs[1]!.components!.map((c) => c.name);
})();

function revealCall(jobId: bigint, reveals: { segment: number; replica: number; digest: Hex; salt: Hex }[]): Hex {
  const inputs = reveals.map((r) => ({ ...r, resultCid: `bafyresult${r.segment}${r.replica}`, ...(revealFields.includes("fingerprint") ? { fingerprint: "0x", peerFingerprints: [] } : {}) }));
  return encodeFunctionData({ abi: jobMarketAbi, functionName: "reveal", args: [jobId, inputs] as never });
}

function commitCall(jobId: bigint, commits: { segment: number; replica: number; commitment: Hex }[]): Hex {
  return encodeFunctionData({ abi: jobMarketAbi, functionName: "commit", args: [jobId, commits] });
}

/** A chain of transactions: each one's events and its calldata. */
function chain() {
  const events: FoldEvent[] = [];
  const inputs = new Map<Hex, Hex>();
  let block = 0n;
  return {
    events,
    inputs,
    read: (hash: Hex) => Promise.resolve(inputs.get(hash) ?? "0x"),
    tx(input: Hex, ...list: [string, Record<string, unknown>][]): Hex {
      block++;
      const hash = `0x${block.toString(16).padStart(64, "0")}` as Hex;
      inputs.set(hash, input);
      list.forEach(([eventName, args], logIndex) => events.push({ eventName, args, blockNumber: block, logIndex, transactionHash: hash }));
      return hash;
    },
  };
}

/** Job 1: P1 and P2 each claim and commit segment 0, then reveal `revealed` (default: what they committed to). */
function settled(options: { p2Reveals?: Hex; p2EventDigest?: Hex } = {}) {
  const c = chain();
  c.tx("0x", ["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: jobEscrow(params, 0) }]);
  c.tx("0x", ["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }]);
  c.tx("0x", ["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 400n, slots: [packSlot(0, 1)] }]);
  c.tx(commitCall(1n, [{ segment: 0, replica: 0, commitment: commitmentOf(digest(7), salt(1), P1, 1n, 0) }]), ["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
  c.tx(commitCall(1n, [{ segment: 0, replica: 1, commitment: commitmentOf(digest(7), salt(2), P2, 1n, 0) }]), ["ReplicasCommitted", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)] }], [
    "RevealsOpened",
    { jobId: 1n, revealDeadline: 500n, segments: [0] },
  ]);
  c.tx(revealCall(1n, [{ segment: 0, replica: 0, digest: digest(7), salt: salt(1) }]), ["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)], digests: [digest(7)] }]);
  const p2 = options.p2Reveals ?? digest(7);
  c.tx(revealCall(1n, [{ segment: 0, replica: 1, digest: p2, salt: salt(2) }]), ["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)], digests: [options.p2EventDigest ?? p2] }]);
  return c;
}

describe("revealed replicas re-checked against their commit calldata (CLI and dApp audit)", () => {
  it("decodes a reveal call and nothing else", () => {
    const found = revealsFromCalldata(revealCall(1n, [{ segment: 0, replica: 1, digest: digest(7), salt: salt(2) }]));
    assert.deepEqual(found?.get("1:0:1")?.digest, digest(7));
    assert.deepEqual(found?.get("1:0:1")?.salt, salt(2));
    assert.equal(found?.get("1:0:1")?.resultCid, "bafyresult01");
    assert.equal(revealsFromCalldata("0x12345678"), undefined);
    assert.equal(revealsFromCalldata(commitCall(1n, [{ segment: 0, replica: 0, commitment: digest(1) }])), undefined);
  });

  it("recomputes every honest reveal's commitment and finds it in the commit calldata", async () => {
    const c = settled();
    const check = await checkRevealedCommitments(foldEvents(c.events), c.events, c.read);
    assert.deepEqual(
      { reveals: check.reveals, matched: check.matched, direct: check.direct, unchecked: check.unchecked, transactions: check.transactions, discrepancies: check.discrepancies },
      { reveals: 2, matched: 2, direct: 0, unchecked: 0, transactions: 4, discrepancies: [] },
    );
    assert.deepEqual(check.verdicts.get("1:0:1"), { kind: "matched", commitment: commitmentOf(digest(7), salt(2), P2, 1n, 0), resultCid: "bafyresult01" });
  });

  it("flags a reveal whose digest and salt do not open the commitment its provider sent", async () => {
    // What a contract that stopped checking commitments would let through: P2 committed to digest 7, revealed digest 8.
    const c = settled({ p2Reveals: digest(8) });
    const check = await checkRevealedCommitments(foldEvents(c.events), c.events, c.read);
    assert.equal(check.matched, 1);
    assert.deepEqual(
      check.discrepancies.map((d) => [d.source, d.subject, d.field]),
      [["calldata", "job 1 segment 0 replica 1", "commitment"]],
    );
    assert.match(check.discrepancies[0]!.expected, new RegExp(commitmentOf(digest(7), salt(2), P2, 1n, 0)));
  });

  it("flags a ReplicasRevealed digest that is not the one the reveal transaction carried", async () => {
    const c = settled({ p2EventDigest: digest(9) });
    const check = await checkRevealedCommitments(foldEvents(c.events), c.events, c.read);
    assert.deepEqual(
      check.discrepancies.map((d) => d.field),
      ["revealed digest"],
    );
  });

  it("counts direct reveals (nothing committed) and transactions it cannot decode (sent through another contract)", async () => {
    const c = chain();
    c.tx("0x", ["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: jobEscrow(params, 0) }]);
    c.tx("0x", ["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0), packSlot(1, 0)] }]);
    c.tx("0x", ["ReplicasClaimed", { jobId: 1n, provider: P2, leaseEnd: 400n, slots: [packSlot(0, 1), packSlot(1, 1)] }]);
    // Segment 0: P1 commits through a multisig (undecodable); P2 then reveals directly.
    c.tx("0xdeadbeef", ["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    c.tx(revealCall(1n, [{ segment: 0, replica: 1, digest: digest(7), salt: salt(2) }]), ["ReplicasRevealed", { jobId: 1n, provider: P2, slots: [packSlot(0, 1)], digests: [digest(7)] }], [
      "RevealsOpened",
      { jobId: 1n, revealDeadline: 500n, segments: [0] },
    ]);
    c.tx(revealCall(1n, [{ segment: 0, replica: 0, digest: digest(7), salt: salt(1) }]), ["ReplicasRevealed", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)], digests: [digest(7)] }]);
    const check = await checkRevealedCommitments(foldEvents(c.events), c.events, c.read);
    assert.deepEqual({ reveals: check.reveals, matched: check.matched, direct: check.direct, unchecked: check.unchecked }, { reveals: 2, matched: 0, direct: 1, unchecked: 1 });
    assert.equal(check.verdicts.get("1:0:1")?.kind, "direct");
    assert.equal(check.verdicts.get("1:0:0")?.kind, "unchecked");
    assert.deepEqual(check.discrepancies, []);
  });

  it("pairs a reveal with the latest commit of its slot (a slot committed again after its lease expired)", () => {
    const c = chain();
    c.tx("0x", ["JobCreated", { jobId: 1n, requester: R, params, feeBps: 0, escrow: jobEscrow(params, 0) }]);
    c.tx("0x", ["ReplicasClaimed", { jobId: 1n, provider: P1, leaseEnd: 400n, slots: [packSlot(0, 0)] }]);
    const first = c.tx("0x01", ["ReplicasCommitted", { jobId: 1n, provider: P1, slots: [packSlot(0, 0)] }]);
    c.tx("0x", ["ReplicaExpired", { jobId: 1n, segment: 0, replica: 0, provider: P1 }], ["ReplicasClaimed", { jobId: 1n, provider: P3, leaseEnd: 900n, slots: [packSlot(0, 0)] }]);
    const second = c.tx("0x02", ["ReplicasCommitted", { jobId: 1n, provider: P3, slots: [packSlot(0, 0)] }]);
    const reveal = c.tx("0x03", ["ReplicasRevealed", { jobId: 1n, provider: P3, slots: [packSlot(0, 0)], digests: [digest(7)] }]);
    const reveals = replicaReveals(c.events);
    assert.equal(reveals.length, 1);
    assert.deepEqual({ provider: reveals[0]!.provider, commitTx: reveals[0]!.commitTx, revealTx: reveals[0]!.revealTx }, { provider: P3, commitTx: second, revealTx: reveal });
    assert.notEqual(reveals[0]!.commitTx, first);
  });
});
