/**
 * Issue 10, property 4: audits make holding every replica of a segment a losing bet.
 *
 * An operator that holds every replica of a segment (probability about f^r under the uniform
 * draw) reveals the same garbage from each and reaches the quorum: before audits it was paid and
 * nothing could ever catch it. In an audited job (`auditBps`), nobody is paid at the quorum: from
 * the next block `auditSegments` draws from the quorum block's hash whether a drawn auditor
 * re-renders the segment in a new blind round; an auditor that disagrees opens two escalation
 * slots, and the result two of the three auditors share wins. The garbage replicas are then
 * slashed and their units refunded; a griefing auditor is out-voted and pays the escalation.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Log as ViemLog } from "viem";
import { decodeProtocolEvents } from "../../../sdk/src/market.ts";
import { createFold, emptyState, expectedSegmentView, type FoldEvent } from "../../../sdk/src/protocol/index.ts";
import {
  COLLATERAL,
  CreditKind,
  FEE_BPS,
  LEASE,
  REWARD,
  SegmentStatus,
  type Deployment,
  type Slot,
  cheater,
  claim,
  claimAndCommitEach,
  commitAll,
  deployFixture,
  ethers,
  eventsOf,
  expectConservation,
  honest,
  jobParams,
  networkHelpers,
  postJob,
  revealAll,
} from "../helpers/driver.ts";

const UNIT_PRICE = REWARD + (REWARD * FEE_BPS) / 10_000n;

/**
 * The sdk's fold of every event so far agrees with the market: no anomaly, the same books, and
 * each segment of `jobId` in the status, slots and round `segmentOf` reports (the audit paths'
 * events are what providers, the CLI's audit and the dApp read).
 */
async function expectFoldAgrees(d: Deployment, jobId: bigint) {
  const raw = await ethers.provider.getLogs({ fromBlock: 0, toBlock: "latest" });
  const logs = raw
    .filter((l) => [d.market.target, d.registry.target].includes(l.address))
    .map((l) => ({ ...l, address: l.address as `0x${string}`, topics: l.topics as [`0x${string}`], data: l.data as `0x${string}`, blockNumber: BigInt(l.blockNumber), logIndex: l.index, transactionHash: l.transactionHash as `0x${string}`, blockHash: l.blockHash as `0x${string}`, transactionIndex: l.transactionIndex, removed: false }) as ViemLog);
  const fold = createFold(emptyState());
  fold.apply(decodeProtocolEvents(logs) as unknown as FoldEvent[]);
  expect(fold.state.anomalies).to.deep.equal([]);
  expect(fold.state.totalEscrow).to.equal(await d.market.totalEscrow());
  expect(fold.state.totalBalances).to.equal(await d.market.totalBalances());
  const job = fold.state.jobs.get(jobId)!;
  for (const seg of job.segments.values()) {
    const view = await d.market.segmentOf(jobId, seg.index);
    const want = expectedSegmentView(job, seg);
    expect([view.status, view.slots, view.round, view.revealDeadline], `segment ${seg.index}`).to.deep.equal([BigInt(want.status), BigInt(want.slots), BigInt(want.round), want.revealDeadline]);
  }
}
/** Every accepted segment is audited: the tests below follow one audit path each. */
const ALWAYS = 10_000;

describe("Attack (issue 10.4): an operator holding every replica of a segment reveals garbage", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  /** Posts an audited one-segment job; `holders` claim, commit and reveal with `renders`; returns at Verifying. */
  async function toQuorum(holders: HardhatEthersSigner[], renders: typeof honest[], auditBps = ALWAYS) {
    const jobId = await postJob(d, { segmentCount: 1, redundancy: holders.length, quorum: holders.length, auditBps });
    const slots = await claimAndCommitEach(d, jobId, holders, renders);
    let last;
    for (const [i, p] of holders.entries()) last = await revealAll(d, p, jobId, [slots[i]!], renders[i]);
    await expect(last!).to.emit(d.market, "SegmentVerifying");
    await expect(last!).to.not.emit(d.market, "SegmentAccepted");
    await expect(last!).to.not.emit(d.market, "Credited");
    return { jobId, slots };
  }

  /** One provider takes, commits and reveals the segment's next free slot (an audit or escalation slot). */
  async function audit(p: HardhatEthersSigner, jobId: bigint, render: typeof honest) {
    const [slot] = await claim(d, p, jobId, 1);
    expect(slot, `${p.address} lands on the audit slot`).to.not.equal(undefined);
    await commitAll(d, p, jobId, [slot!], render);
    return { slot: slot!, tx: await revealAll(d, p, jobId, [slot!], render) };
  }

  /** The two escalation auditors take and commit their slots (the window opens), then reveal; returns the last reveal. */
  async function escalate(jobId: bigint, auditors: [HardhatEthersSigner, typeof honest][]) {
    const held: Slot[] = [];
    for (const [p, render] of auditors) {
      const [slot] = await claim(d, p, jobId, 1);
      expect(slot, `${p.address} lands on an escalation slot`).to.not.equal(undefined);
      await commitAll(d, p, jobId, [slot!], render);
      held.push(slot!);
    }
    let last;
    for (const [i, [p, render]] of auditors.entries()) last = await revealAll(d, p, jobId, [held[i]!], render);
    return last!;
  }

  async function balances(...who: HardhatEthersSigner[]) {
    return Promise.all(who.map((p) => d.market.balanceOf(p.address)));
  }

  it("both replicas reveal the same garbage: the honest auditors out-vote it, both are slashed and nobody is paid for garbage (before audits: both paid)", async function () {
    const [c1, c2, auditor, e1, e2] = d.providers;
    const { jobId } = await toQuorum([c1!, c2!], [cheater, cheater]);
    expect(await balances(c1!, c2!)).to.deep.equal([0n, 0n], "nobody is paid at the quorum of an audited job");
    await expect(d.market.connect(d.keeper).auditSegments(jobId, [0])).to.emit(d.market, "AuditOpened").withArgs(jobId, 0, 2);
    const first = await audit(auditor!, jobId, honest);
    await expect(first.tx).to.emit(d.market, "AuditDisputed").withArgs(jobId, 0, 5);
    const stakes = await Promise.all([c1!, c2!].map(async (p) => (await d.registry.providerOf(p.address)).staked));
    const refundBefore = await d.market.balanceOf(d.requester.address);
    const last = { tx: await escalate(jobId, [[e1!, honest], [e2!, honest]]) };
    await expect(last.tx).to.emit(d.market, "SegmentAccepted").withArgs(jobId, 0, first.slot.replica, 0b11100);
    await expect(last.tx).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, 0, c1!.address, COLLATERAL);
    await expect(last.tx).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, 1, c2!.address, COLLATERAL);
    await expect(last.tx).to.emit(d.market, "Credited").withArgs(auditor!.address, jobId, CreditKind.Reward, REWARD);
    await expect(last.tx).to.emit(d.market, "Credited").withArgs(e1!.address, jobId, CreditKind.TieBreakerReward, REWARD);
    await expect(last.tx).to.emit(d.market, "Credited").withArgs(e2!.address, jobId, CreditKind.TieBreakerReward, REWARD);
    expect(await balances(c1!, c2!)).to.deep.equal([0n, 0n]);
    for (const [i, p] of [c1!, c2!].entries()) expect((await d.registry.providerOf(p.address)).staked).to.equal(stakes[i]! - COLLATERAL);
    // The requester gets the garbage replicas' two units back and the seized collateral beyond the escalation's pay.
    expect((await d.market.balanceOf(d.requester.address)) - refundBefore).to.equal(2n * UNIT_PRICE + 2n * COLLATERAL - 2n * REWARD);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("r = 1 plus audits: a lone trusted provider revealing garbage is caught the same way", async function () {
    const [c, auditor, e1, e2] = d.providers;
    const { jobId } = await toQuorum([c!], [cheater]);
    await d.market.connect(d.keeper).auditSegments(jobId, [0]);
    await audit(auditor!, jobId, honest);
    const tx = await escalate(jobId, [[e1!, honest], [e2!, honest]]);
    await expect(tx).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, 0, c!.address, COLLATERAL);
    expect(await d.market.balanceOf(c!.address)).to.equal(0n);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("an auditor that agrees is paid from the audit unit, and the honest replicas are paid", async function () {
    const [a, b, auditor] = d.providers;
    const { jobId } = await toQuorum([a!, b!], [honest, honest]);
    await d.market.connect(d.keeper).auditSegments(jobId, [0]);
    const { tx } = await audit(auditor!, jobId, honest);
    await expect(tx).to.emit(d.market, "SegmentAccepted").withArgs(jobId, 0, 0, 0b111);
    await expect(tx).to.not.emit(d.market, "ReplicaRejected");
    expect(await balances(a!, b!, auditor!)).to.deep.equal([REWARD, REWARD, REWARD]);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("a griefing auditor is out-voted and slashed; its collateral pays the two escalation auditors", async function () {
    const [a, b, griefer, e1, e2] = d.providers;
    const { jobId } = await toQuorum([a!, b!], [honest, honest]);
    await d.market.connect(d.keeper).auditSegments(jobId, [0]);
    await audit(griefer!, jobId, cheater);
    const requesterBefore = await d.market.balanceOf(d.requester.address);
    const tx = await escalate(jobId, [[e1!, honest], [e2!, honest]]);
    await expect(tx).to.emit(d.market, "SegmentAccepted").withArgs(jobId, 0, 0, 0b11011);
    await expect(tx).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, 2, griefer!.address, COLLATERAL);
    expect(await balances(a!, b!, griefer!, e1!, e2!)).to.deep.equal([REWARD, REWARD, 0n, REWARD, REWARD]);
    // The unused audit unit goes back; the griefer's collateral is spent on the escalation.
    expect((await d.market.balanceOf(d.requester.address)) - requesterBefore).to.equal(UNIT_PRICE + COLLATERAL - 2n * REWARD);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("no two auditors agree: the segment fails, nobody is slashed or paid, the audit unit goes back", async function () {
    const [a, b, x, y, z] = d.providers;
    const { jobId } = await toQuorum([a!, b!], [honest, honest]);
    await d.market.connect(d.keeper).auditSegments(jobId, [0]);
    const other = (tag: string) => (slot: Slot) => ethers.keccak256(ethers.toUtf8Bytes(`${tag}:${slot.segment}`));
    await audit(x!, jobId, other("x"));
    const tx = await escalate(jobId, [[y!, other("y")], [z!, other("z")]]);
    await expect(tx).to.emit(d.market, "SegmentFailed").withArgs(jobId, 0);
    await expect(tx).to.not.emit(d.market, "ReplicaRejected");
    expect(await balances(a!, b!, x!, y!, z!)).to.deep.equal([0n, 0n, 0n, 0n, 0n]);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });
});

describe("Audits: the draw, the escrow and the rules", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("the draw follows the quorum block's hash (unknown when the last replica revealed); not audited: paid at the draw, audit unit refunded", async function () {
    const auditBps = 5_000;
    const segments = 12;
    const jobId = await postJob(d, { segmentCount: segments, redundancy: 2, quorum: 2, auditBps });
    const [a, b] = d.providers;
    const sa = await claim(d, a!, jobId, segments);
    const sb = await claim(d, b!, jobId, segments);
    await commitAll(d, a!, jobId, sa);
    await commitAll(d, b!, jobId, sb);
    await revealAll(d, a!, jobId, sa);
    const quorum = await revealAll(d, b!, jobId, sb);
    const quorumBlock = (await quorum.wait())!.blockNumber;
    expect((await d.market.segmentOf(jobId, 0)).revealDeadline).to.equal(BigInt(quorumBlock), "a Verifying segment shows its quorum block");
    const seed = (await ethers.provider.getBlock(quorumBlock))!.hash!;
    const all = [...Array(segments).keys()];
    const tx = await d.market.connect(d.keeper).auditSegments(jobId, all);
    const opened = new Set((await eventsOf(d, tx, "AuditOpened")).map((e) => Number(e.args.segment)));
    const accepted = new Set((await eventsOf(d, tx, "SegmentAccepted")).map((e) => Number(e.args.segment)));
    for (const s of all) {
      const draw = BigInt(ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["bytes32", "uint256", "uint32"], [seed, jobId, s]))) % 10_000n;
      expect(opened.has(s), `segment ${s}: draw ${draw} against ${auditBps}`).to.equal(draw < BigInt(auditBps));
      expect(accepted.has(s)).to.equal(!opened.has(s));
    }
    expect(opened.size + accepted.size).to.equal(segments);
    // Each accepted segment paid both replicas and refunded its audit unit.
    expect(await d.market.balanceOf(a!.address)).to.equal(BigInt(accepted.size) * REWARD);
    await expect(tx).to.emit(d.market, "Credited").withArgs(d.requester.address, jobId, CreditKind.Refund, BigInt(accepted.size) * UNIT_PRICE);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("waiting 256 blocks never avoids an audit: a gone quorum-block hash always audits", async function () {
    const [a] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, auditBps: 1 });
    const [slot] = await claim(d, a!, jobId, 1);
    await revealAll(d, a!, jobId, [slot!]);
    await networkHelpers.mine(257);
    await expect(d.market.auditSegments(jobId, [0])).to.emit(d.market, "AuditOpened");
  });

  it("nobody is paid before the draw, which is refused for a segment that is not Verifying", async function () {
    const [a] = d.providers;
    const jobId = await postJob(d, { segmentCount: 2, redundancy: 1, quorum: 1, auditBps: ALWAYS });
    await expect(d.market.auditSegments(jobId, [1])).to.be.revertedWithCustomError(d.market, "JobMarketAuditNotDue").withArgs(jobId, 1);
    const [slot] = await claim(d, a!, jobId, 1);
    await revealAll(d, a!, jobId, [slot!]);
    expect(await d.market.balanceOf(a!.address)).to.equal(0n);
    expect((await d.market.segmentOf(jobId, slot!.segment)).status).to.equal(SegmentStatus.Verifying);
  });

  it("escrows one more unit per segment (the auditor's); a cancellation refunds it with the untouched segments", async function () {
    const params = await jobParams({ segmentCount: 3, redundancy: 2, quorum: 2, auditBps: 2_000 });
    const tx = await d.market.connect(d.requester).createJob(params);
    const [created] = await eventsOf(d, tx, "JobCreated");
    const jobId = created!.args.jobId as bigint;
    expect(created!.args.escrow).to.equal(3n * 3n * UNIT_PRICE);
    await expect(d.market.connect(d.requester).cancelJob(jobId)).to.emit(d.market, "JobCancelled").withArgs(jobId, 9n * UNIT_PRICE);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("an audit nobody finishes by the deadline: the accepted result stands, the audit unit goes back", async function () {
    const [a, b] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2, auditBps: ALWAYS });
    const [sa, sb] = await claimAndCommitEach(d, jobId, [a!, b!]);
    await revealAll(d, a!, jobId, [sa!]);
    await revealAll(d, b!, jobId, [sb!]);
    await d.market.auditSegments(jobId, [0]);
    await expect(d.market.closeSegments(jobId, [0])).to.be.revertedWithCustomError(d.market, "JobMarketSegmentNotClosable");
    await networkHelpers.time.increaseTo((await d.market.jobOf(jobId)).deadline + 1n);
    const tx = await d.market.connect(d.outsider).closeSegments(jobId, [0]);
    await expect(tx).to.emit(d.market, "SegmentAccepted").withArgs(jobId, 0, 0, 0b11);
    expect(await d.market.balanceOf(a!.address)).to.equal(REWARD);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("attack: replicas that never draw their audit and draw it once no audit can open are not paid (was: accepted as it stood)", async function () {
    const [c1, c2] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2, auditBps: ALWAYS });
    const [s1, s2] = await claimAndCommitEach(d, jobId, [c1!, c2!], [cheater, cheater]);
    await revealAll(d, c1!, jobId, [s1!], cheater);
    await revealAll(d, c2!, jobId, [s2!], cheater);
    // The colluders wait until an audit slot's lease would end past the deadline, then draw.
    const { deadline, leaseDuration } = await d.market.jobOf(jobId);
    await networkHelpers.time.increaseTo(deadline - leaseDuration + 1n);
    const stakes = await Promise.all([c1!, c2!].map(async (p) => (await d.registry.providerOf(p.address)).staked));
    const tx = await d.market.connect(c1!).auditSegments(jobId, [0]);
    await expect(tx).to.not.emit(d.market, "SegmentAccepted");
    await expect(tx).to.emit(d.market, "SegmentClosed").withArgs(jobId, 0);
    await expect(tx).to.emit(d.market, "Credited").withArgs(d.requester.address, jobId, CreditKind.Refund, 3n * UNIT_PRICE);
    expect([await d.market.balanceOf(c1!.address), await d.market.balanceOf(c2!.address)]).to.deep.equal([0n, 0n], "nobody is paid for a segment whose audit came too late");
    for (const [i, p] of [c1!, c2!].entries()) {
      expect((await d.registry.providerOf(p.address)).staked).to.equal(stakes[i], "released, not slashed (the results were never checked)");
      expect(await d.registry.freeStake(p.address)).to.equal(stakes[i]);
    }
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
    await expectFoldAgrees(d, jobId);
  });

  it("an audited job's original slots stop taking claims a lease and three reveal windows plus a lease before the deadline (room for an audit and its dispute); audit slots do not", async function () {
    const [a, b, auditor] = d.providers;
    const jobId = await postJob(d, { segmentCount: 2, redundancy: 1, quorum: 1, auditBps: ALWAYS });
    const { deadline, leaseDuration, revealWindow } = await d.market.jobOf(jobId);
    const [slot] = await claim(d, a!, jobId, 1);
    await revealAll(d, a!, jobId, [slot!]);
    await networkHelpers.time.increaseTo(deadline - 2n * leaseDuration - 3n * revealWindow - leaseDuration + 1n);
    await d.market.auditSegments(jobId, [slot!.segment]);
    // The other segment's original slot is past its cutoff; the audit slot is not.
    expect(await claim(d, b!, jobId, 2)).to.deep.equal([{ segment: slot!.segment, replica: 1 }], "only the audit slot is drawn");
    expect(await claim(d, auditor!, jobId, 1)).to.deep.equal([], "the original slot no longer takes claims");
    await expectConservation(d);
  });

  it("refuses audits a job cannot have, and collateral below two rewards", async function () {
    const bad = async (overrides: Record<string, unknown>) => d.market.connect(d.requester).createJob(await jobParams({ segmentCount: 1, ...overrides }));
    await expect(bad({ redundancy: 2, quorum: 2, auditBps: 10_001 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidAudit");
    await expect(bad({ redundancy: 3, quorum: 2, auditBps: 1_000 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidAudit").withArgs(1_000, 0, 3, 2);
    await expect(bad({ redundancy: 3, quorum: 3, auditBps: 1_000 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidAudit").withArgs(1_000, 0, 3, 3);
    await expect(bad({ redundancy: 2, quorum: 2, auditBps: 1_000, verification: 1, toleranceBps: 2_500 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidAudit");
    await expect(bad({ redundancy: 2, quorum: 2, auditBps: 1_000, collateralPerReplica: 2n * REWARD - 1n }))
      .to.be.revertedWithCustomError(d.market, "JobMarketAuditCollateralTooLow")
      .withArgs(2n * REWARD - 1n, 2n * REWARD);
    expect(LEASE).to.be.greaterThan(0);
  });
});
