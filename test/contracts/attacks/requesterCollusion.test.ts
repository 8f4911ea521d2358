/**
 * Issue 10, property 3: a requester who is also a provider can never hold revealed results and
 * recover what they were worth. Each test replays the attack of the review on the real Ignition
 * deployment and measures the coalition's (requester + its provider addresses) net cost against
 * what the same job costs it when everybody is honest.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import {
  CreditKind,
  LEASE,
  REVEAL_WINDOW,
  REWARD,
  STAKE,
  SegmentStatus,
  type Deployment,
  cheater,
  claim,
  commitAll,
  deployFixture,
  ethers,
  eventsOf,
  expectConservation,
  networkHelpers,
  postJob,
  revealAll,
  unitPrice,
} from "../helpers/driver.ts";

/** What the coalition holds in the market and the registry (balances + stakes). */
async function holdings(d: Deployment, members: HardhatEthersSigner[]) {
  let total = 0n;
  for (const m of members) {
    total += await d.market.balanceOf(m.address);
    total += (await d.registry.providerOf(m.address)).staked;
  }
  return total;
}

describe("Attack (issue 10.3): a requester that is also a provider takes honest work for free", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("claims one replica of every segment, reveals garbage after the honest reveals, cancels and closes: recovers nothing", async function () {
    const SEGMENTS = 8;
    const [sybil, honestP] = d.providers; // sybil: the requester's second address
    const before = (await holdings(d, [sybil])) + (await d.token.balanceOf(d.requester.address));
    const jobId = await postJob(d, { segmentCount: SEGMENTS });
    // Right after createJob the sybil takes one replica of every segment; the honest provider the other.
    const mine = await claim(d, sybil, jobId, SEGMENTS);
    const theirs = await claim(d, honestP, jobId, SEGMENTS);
    expect(new Set(mine.map((s) => s.segment)).size).to.equal(SEGMENTS);
    await commitAll(d, honestP, jobId, theirs);
    await commitAll(d, sybil, jobId, mine, cheater);
    // The honest results are public now (their CIDs are in these events).
    const revealed = await revealAll(d, honestP, jobId, theirs);
    expect(await eventsOf(d, revealed, "ReplicasRevealed")).to.have.length(1);
    const garbage = await revealAll(d, sybil, jobId, mine, cheater);
    expect(await eventsOf(d, garbage, "TieBreakerOpened")).to.have.length(SEGMENTS);

    // Cancel and close while every segment waits for its tie-breaker.
    await d.market.connect(d.requester).cancelJob(jobId);
    const segments = Array.from({ length: SEGMENTS }, (_, i) => i);
    const close = await d.market.connect(d.outsider).closeSegments(jobId, segments);
    await expect(close).to.emit(d.market, "SegmentClosed");

    // Disputed budget is forfeited: neither the requester nor any replica gets it back; it stays in escrow.
    expect(await d.market.balanceOf(d.requester.address)).to.equal(0n);
    await expect(close).not.to.emit(d.market, "Credited");
    expect((await d.market.jobOf(jobId)).escrow).to.equal(BigInt(SEGMENTS * 2) * unitPrice());
    const after = (await holdings(d, [sybil])) + (await d.token.balanceOf(d.requester.address)) + (await d.market.balanceOf(d.requester.address));
    const honestCost = BigInt(SEGMENTS) * (2n * unitPrice() - REWARD); // everybody honest: the sybil's replicas are paid back
    expect(before - after).to.be.greaterThan(honestCost, "the attack must cost the coalition more than rendering honestly");
    // Nobody's collateral stays locked, the honest provider is not slashed.
    expect((await d.registry.providerOf(honestP.address)).staked).to.equal(STAKE);
    expect(await d.registry.freeStake(honestP.address)).to.equal(STAKE);
    expect(await d.registry.freeStake(sybil.address)).to.equal(STAKE);
    await expectConservation(d);
  });

  it("a sybil that withholds its reveal and lets its slot expire cannot cancel the honest reveal away either", async function () {
    const [sybil, honestP] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [s] = await claim(d, sybil, jobId, 1);
    const [h] = await claim(d, honestP, jobId, 1);
    await commitAll(d, honestP, jobId, [h]);
    await commitAll(d, sybil, jobId, [s], cheater);
    await revealAll(d, honestP, jobId, [h]);
    // The sybil never reveals; once its reveal window passed, the requester expires it (its own
    // collateral comes back to the coalition as compensation and keeper fee) and the slot reopens.
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await d.market.connect(d.requester).expire(jobId, [s]);
    await d.market.connect(d.requester).cancelJob(jobId);
    const close = await d.market.connect(d.outsider).closeSegments(jobId, [0]);
    await expect(close).to.emit(d.market, "ReplicaReleased").withArgs(jobId, 0, h.replica, honestP.address);
    // Only the unit of the slot that never revealed comes back; the revealed unit is forfeited.
    await expect(close).to.emit(d.market, "Credited").withArgs(d.requester.address, jobId, CreditKind.Refund, unitPrice());
    expect((await d.market.jobOf(jobId)).escrow).to.equal(unitPrice());
    expect(await d.registry.freeStake(honestP.address)).to.equal(STAKE);
    await expectConservation(d);
  });

  it("disagreeing after deadline − lease (no tie-breaker possible) fails the segment without a refund", async function () {
    const [sybil, honestP] = d.providers;
    const now = await networkHelpers.time.latest();
    const deadline = now + 2 * LEASE;
    const jobId = await postJob(d, { segmentCount: 2, deadline });
    const mine = await claim(d, sybil, jobId, 2);
    const theirs = await claim(d, honestP, jobId, 2);
    // Commit late, so that the reveal window is still open once a tie-breaker no longer fits.
    await networkHelpers.time.increaseTo(deadline - LEASE - REVEAL_WINDOW / 2);
    await commitAll(d, honestP, jobId, theirs);
    await commitAll(d, sybil, jobId, mine, cheater);
    await revealAll(d, honestP, jobId, theirs);
    // Wait until a tie-breaker's lease would end past the deadline, then disagree.
    await networkHelpers.time.increaseTo(deadline - LEASE + 1);
    const tx = await revealAll(d, sybil, jobId, mine, cheater);
    await expect(tx).to.emit(d.market, "SegmentFailed");
    for (const seg of [0, 1]) expect((await d.market.segmentOf(jobId, seg)).status).to.equal(SegmentStatus.Failed);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(0n);
    await expect(tx).not.to.emit(d.market, "Credited");
    expect(await d.registry.freeStake(honestP.address)).to.equal(STAKE);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(4n * unitPrice()); // forfeited for good
    await expectConservation(d);
  });
});
