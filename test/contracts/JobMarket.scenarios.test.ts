import { expect } from "chai";
import {
  COLLATERAL,
  CreditKind,
  LEASE,
  REVEAL_WINDOW,
  REWARD,
  ReplicaState,
  STAKE,
  SegmentStatus,
  type Deployment,
  type Slot,
  cheater,
  claimAndCommitEach,
  claim,
  claimEverything,
  commitAll,
  deployFixture,
  digestOf,
  ethers,
  eventsOf,
  expectConservation,
  honest,
  networkHelpers,
  postJob,
  revealAll,
  unitPrice,
  withdrawAll,
} from "./helpers/driver.ts";

const FEE = (REWARD * 100n) / 10_000n;
const KEEPER_FEE = COLLATERAL / 10n;

describe("JobMarket scenarios", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("settles an honest r=2 job completely and everyone withdraws what they are owed", async function () {
    const [p0, p1] = d.providers;
    const jobId = await postJob(d, { segmentCount: 4 });
    const escrow = 4n * 2n * unitPrice();
    expect((await d.market.jobOf(jobId)).escrow).to.equal(escrow);

    const held = await claimEverything(d, jobId, [p0, p1]);
    expect(held.get(p0)!.length + held.get(p1)!.length).to.equal(8);
    expect((await d.registry.providerOf(p0.address)).locked).to.equal(BigInt(held.get(p0)!.length) * COLLATERAL);

    for (const [provider, slots] of held) await commitAll(d, provider, jobId, slots);
    const accepted = [];
    for (const [provider, slots] of held) {
      const tx = await revealAll(d, provider, jobId, slots);
      accepted.push(...(await eventsOf(d, tx, "SegmentAccepted")));
    }
    expect(accepted.map((e) => Number(e.args.segment)).sort()).to.deep.equal([0, 1, 2, 3]);
    // Both replicas agree: the accepted result is replica 0 (the lowest-numbered of the highest support), both are listed.
    for (const e of accepted) expect([Number(e.args.replica), Number(e.args.agreeing)]).to.deep.equal([0, 0b11]);
    for (let s = 0; s < 4; s++) expect((await d.market.segmentOf(jobId, s)).status).to.equal(SegmentStatus.Accepted);

    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    expect(await d.market.balanceOf(p0.address)).to.equal(4n * REWARD);
    expect(await d.market.balanceOf(p1.address)).to.equal(4n * REWARD);
    expect(await d.market.balanceOf(d.admin.address)).to.equal(8n * FEE); // treasury = deployer
    expect(await d.market.balanceOf(d.requester.address)).to.equal(0n);
    for (const p of [p0, p1]) {
      const record = await d.registry.providerOf(p.address);
      expect(record.locked).to.equal(0n);
      expect(record.accepted).to.equal(4);
      expect(record.score).to.be.greaterThan(5000);
    }
    await expectConservation(d);
    expect(await withdrawAll(d, p0)).to.equal(4n * REWARD);
    expect(await withdrawAll(d, p1)).to.equal(4n * REWARD);
    expect(await withdrawAll(d, d.admin)).to.equal(8n * FEE);
    expect(await d.token.balanceOf(d.market.target)).to.equal(0n);
    await expectConservation(d);
  });

  it("out-votes a cheater at r=2 with a tie-breaker paid from the cheater's collateral", async function () {
    const [honestA, cheat, tieBreaker] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [slotA, slotC] = await claimAndCommitEach(d, jobId, [honestA, cheat], [honest, cheater]);
    await revealAll(d, honestA, jobId, [slotA]);
    const tx = await revealAll(d, cheat, jobId, [slotC], cheater);
    await expect(tx).to.emit(d.market, "TieBreakerOpened").withArgs(jobId, 0, 3);
    expect((await d.market.segmentOf(jobId, 0)).status).to.equal(SegmentStatus.Open);

    // Neither of the first two may take the tie-breaker slot.
    expect(await claim(d, honestA, jobId, 1)).to.deep.equal([]);
    const [slotT] = await claim(d, tieBreaker, jobId, 1);
    expect(slotT).to.deep.equal({ segment: 0, replica: 2 });
    await commitAll(d, tieBreaker, jobId, [slotT]);
    const settle = await revealAll(d, tieBreaker, jobId, [slotT]);
    // The tie-breaker completed the quorum, but the accepted result is the lowest-numbered agreeing replica (honest A's).
    await expect(settle)
      .to.emit(d.market, "SegmentAccepted")
      .withArgs(jobId, 0, Math.min(slotA.replica, slotT.replica), (1 << slotA.replica) | (1 << slotT.replica));
    await expect(settle).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, slotC.replica, cheat.address, COLLATERAL);
    await expect(settle).to.emit(d.market, "Credited").withArgs(tieBreaker.address, jobId, CreditKind.TieBreakerReward, REWARD);

    // Honest providers whole and paid, cheater slashed, requester pays only for one original unit.
    expect(await d.market.balanceOf(honestA.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(tieBreaker.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(cheat.address)).to.equal(0n);
    expect((await d.registry.providerOf(cheat.address)).staked).to.equal(STAKE - COLLATERAL);
    expect((await d.registry.providerOf(cheat.address)).rejected).to.equal(1);
    expect(await d.registry.freeStake(honestA.address)).to.equal(STAKE);
    expect(await d.registry.freeStake(tieBreaker.address)).to.equal(STAKE);
    const requesterCredit = await d.market.balanceOf(d.requester.address);
    expect(requesterCredit).to.equal(unitPrice() + (COLLATERAL - REWARD)); // cheater's unit + leftover collateral
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
  });

  it("fails a segment whose three replicas all disagree: collateral returned, nobody paid, budget forfeited (results are public)", async function () {
    const [a, b, c] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa] = await claim(d, a, jobId, 1);
    const [sb] = await claim(d, b, jobId, 1);
    const render = (label: string) => () => digestOf(label);
    await commitAll(d, a, jobId, [sa], render("a"));
    await commitAll(d, b, jobId, [sb], render("b"));
    await revealAll(d, a, jobId, [sa], render("a"));
    await revealAll(d, b, jobId, [sb], render("b"));
    const [sc] = await claim(d, c, jobId, 1);
    await commitAll(d, c, jobId, [sc], render("c"));
    const tx = await revealAll(d, c, jobId, [sc], render("c"));
    await expect(tx).to.emit(d.market, "SegmentFailed").withArgs(jobId, 0);

    expect((await d.market.segmentOf(jobId, 0)).status).to.equal(SegmentStatus.Failed);
    // The three results are public: refunding them would let a requester who disputes keep them for free.
    expect(await d.market.balanceOf(d.requester.address)).to.equal(0n);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(2n * unitPrice()); // forfeited: stays in escrow for good
    for (const p of [a, b, c]) {
      expect(await d.market.balanceOf(p.address)).to.equal(0n);
      expect(await d.registry.freeStake(p.address)).to.equal(STAKE);
    }
    await expectConservation(d);
  });

  it("expires a lease that passed without a commit, pays the keeper, and lets another provider finish", async function () {
    const [slow, fast, other] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [slotSlow] = await claim(d, slow, jobId, 1);
    const [slotFast] = await claim(d, fast, jobId, 1);
    await commitAll(d, fast, jobId, [slotFast]);
    await expect(d.market.connect(d.keeper).expire(jobId, [slotSlow])).to.be.revertedWithCustomError(
      d.market,
      "JobMarketNotExpirable",
    );
    await networkHelpers.time.increase(LEASE + 1);
    const tx = await d.market.connect(d.keeper).expire(jobId, [slotSlow]);
    await expect(tx).to.emit(d.market, "ReplicaExpired").withArgs(jobId, 0, slotSlow.replica, slow.address, d.keeper.address, COLLATERAL);
    expect(await d.market.balanceOf(d.keeper.address)).to.equal(KEEPER_FEE);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(COLLATERAL - KEEPER_FEE);
    expect((await d.registry.providerOf(slow.address)).expired).to.equal(1);
    expect((await d.market.replicaOf(jobId, 0, slotSlow.replica)).state).to.equal(ReplicaState.Empty);

    const [again] = await claim(d, other, jobId, 1);
    expect(again).to.deep.equal(slotSlow);
    await commitAll(d, other, jobId, [again]);
    await revealAll(d, fast, jobId, [slotFast]);
    await expect(revealAll(d, other, jobId, [again])).to.emit(d.market, "SegmentAccepted");
    expect(await d.market.balanceOf(fast.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(other.address)).to.equal(REWARD);
    await expectConservation(d);
  });

  it("returns the collateral of an abandoned claim and reopens the slot", async function () {
    const [quitter, other] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
    const [slot] = await claim(d, quitter, jobId, 1);
    expect(await d.registry.freeStake(quitter.address)).to.equal(STAKE - COLLATERAL);
    // The reason and the engine's error line reach the requester in the event (issue 12 item 2).
    const leaseEnd = (await d.market.replicaOf(jobId, 0, 0)).leaseEnd;
    // Given back 10 s into the lease: half the collateral pro rata of 10 of 600 s is forfeited (issue 9.4).
    await networkHelpers.time.setNextBlockTimestamp(leaseEnd - BigInt(LEASE) + 10n);
    const forfeited = (COLLATERAL * 5_000n * 10n) / (10_000n * BigInt(LEASE));
    await expect(d.market.connect(quitter).abandon(jobId, [slot], 1, "Cannot open include file drums.inc"))
      .to.emit(d.market, "ReplicaAbandoned")
      .withArgs(jobId, 0, 0, quitter.address, 1, "Cannot open include file drums.inc", forfeited);
    expect(await d.registry.freeStake(quitter.address)).to.equal(STAKE - forfeited);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(forfeited);
    // A scene fault (reason 1) is the requester's: not counted against the provider (issue 9.9).
    expect((await d.registry.providerOf(quitter.address)).abandoned).to.equal(0);
    const [again] = await claim(d, other, jobId, 1);
    await commitAll(d, other, jobId, [again]);
    await expect(revealAll(d, other, jobId, [again])).to.emit(d.market, "SegmentAccepted");
    await expectConservation(d);
  });

  it("refunds the budget of untouched segments at once when the requester cancels", async function () {
    const [a] = d.providers;
    const jobId = await postJob(d, { segmentCount: 3 });
    await claim(d, a, jobId, 1);
    await expect(d.market.connect(d.requester).cancelJob(jobId))
      .to.emit(d.market, "JobCancelled")
      .withArgs(jobId, 2n * 2n * unitPrice());
    expect(await d.market.balanceOf(d.requester.address)).to.equal(4n * unitPrice());
    await expect(d.market.connect(a).requestClaim(jobId, 1)).to.be.revertedWithCustomError(d.market, "JobMarketJobNotOpen");
    await expectConservation(d);
  });

  it("cancels with segments in flight: full segments finish, partial ones close with collateral returned", async function () {
    const [a, b] = d.providers;
    const jobId = await postJob(d, { segmentCount: 3 });
    const slotsA = await claim(d, a, jobId, 2); // two different segments
    const slotsB: Slot[] = [];
    const aSegments = new Set(slotsA.map((s) => s.segment));
    while (!slotsB.some((s) => aSegments.has(s.segment))) slotsB.push(...(await claim(d, b, jobId, 1)));
    const full = slotsB.find((s) => aSegments.has(s.segment))!.segment;
    const partials = [...new Set([...slotsA, ...slotsB].map((s) => s.segment))].filter((s) => s !== full);
    const untouched = 3 - 1 - partials.length;
    expect((await d.market.jobOf(jobId)).segmentsTouched).to.equal(3 - untouched);

    await expect(d.market.connect(d.requester).cancelJob(jobId))
      .to.emit(d.market, "JobCancelled")
      .withArgs(jobId, BigInt(untouched) * 2n * unitPrice());
    await expect(d.market.closeSegments(jobId, [full])).to.be.revertedWithCustomError(d.market, "JobMarketSegmentNotClosable");

    // The fully claimed segment runs to completion.
    const fullA = slotsA.filter((s) => s.segment === full);
    const fullB = slotsB.filter((s) => s.segment === full);
    await commitAll(d, a, jobId, fullA);
    await commitAll(d, b, jobId, fullB);
    await revealAll(d, a, jobId, fullA);
    await expect(revealAll(d, b, jobId, fullB)).to.emit(d.market, "SegmentAccepted");

    // Partial segments can never fill: anyone closes them, holders get their collateral back.
    const close = await d.market.connect(d.keeper).closeSegments(jobId, partials);
    expect((await eventsOf(d, close, "ReplicaReleased")).length).to.equal(partials.length);
    expect(await d.registry.freeStake(a.address)).to.equal(STAKE);
    expect(await d.registry.freeStake(b.address)).to.equal(STAKE);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(4n * unitPrice());
    expect(await d.market.balanceOf(a.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(b.address)).to.equal(REWARD);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
  });

  it("refunds everything unsettled after the deadline, seizing only leases that were missed", async function () {
    const [committed, idle] = d.providers;
    const now = await networkHelpers.time.latest();
    const jobId = await postJob(d, { segmentCount: 3, deadline: now + 2 * LEASE + REVEAL_WINDOW });
    const [slotC] = await claim(d, committed, jobId, 1);
    await commitAll(d, committed, jobId, [slotC]);
    const [slotI] = await claim(d, idle, jobId, 1);
    await expect(d.market.closeSegments(jobId, [slotC.segment])).to.be.revertedWithCustomError(
      d.market,
      "JobMarketSegmentNotClosable",
    );
    await networkHelpers.time.increase(2 * LEASE + REVEAL_WINDOW + 1);
    await expect(d.market.connect(idle).requestClaim(jobId, 1)).to.be.revertedWithCustomError(d.market, "JobMarketClaimWindowClosed");

    const segments = [...new Set([slotC.segment, slotI.segment, 0, 1, 2])];
    await d.market.connect(d.keeper).closeSegments(jobId, segments);
    for (const s of [0, 1, 2]) expect((await d.market.segmentOf(jobId, s)).status).to.equal(SegmentStatus.Closed);
    expect(await d.registry.freeStake(committed.address)).to.equal(STAKE); // committed in time: released
    expect((await d.registry.providerOf(idle.address)).staked).to.equal(STAKE - COLLATERAL); // missed its lease
    expect(await d.market.balanceOf(d.requester.address)).to.equal(3n * 2n * unitPrice() + COLLATERAL - KEEPER_FEE);
    expect(await d.market.balanceOf(d.keeper.address)).to.equal(KEEPER_FEE);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
  });

  it("does not let unbonding escape a slash for work already claimed", async function () {
    const [p] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [slot] = await claim(d, p, jobId, 1);
    await expect(d.registry.connect(p).requestUnstake(STAKE))
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryInsufficientFreeStake")
      .withArgs(p.address, STAKE - COLLATERAL, STAKE);
    await d.registry.connect(p).requestUnstake(STAKE - COLLATERAL);
    await networkHelpers.time.increase(3600 + 1);
    await d.registry.connect(p).withdrawStake();
    expect((await d.registry.providerOf(p.address)).staked).to.equal(COLLATERAL);

    await d.market.connect(d.keeper).expire(jobId, [slot]);
    expect((await d.registry.providerOf(p.address)).staked).to.equal(0n);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(COLLATERAL - KEEPER_FEE);
    await expectConservation(d);
  });

  it("never gives one provider two replicas of one segment, however many it claims", async function () {
    const [greedy, other] = d.providers;
    const jobId = await postJob(d, { segmentCount: 5, redundancy: 3, quorum: 2 });
    const first = await claim(d, greedy, jobId, 50); // 50 x collateral: all of its stake
    expect(first.length).to.equal(5);
    expect(new Set(first.map((s: Slot) => s.segment)).size).to.equal(5);
    expect(await claim(d, greedy, jobId, 40)).to.deep.equal([]);
    const second = await claim(d, other, jobId, 50);
    expect(new Set(second.map((s: Slot) => s.segment)).size).to.equal(5);
    for (let s = 0; s < 5; s++) {
      const holders = new Set<string>();
      for (let r = 0; r < 3; r++) {
        const rep = await d.market.replicaOf(jobId, s, r);
        if (rep.state !== BigInt(ReplicaState.Empty)) {
          expect(holders.has(rep.provider)).to.equal(false);
          holders.add(rep.provider);
        }
      }
    }
  });

  it("settles at quorum before the last reveal (r=3, q=2) and pays the late replica that agrees", async function () {
    const [a, b, late] = d.providers;
    const jobId = await postJob(d, { segmentCount: 2, redundancy: 3, quorum: 2 });
    const held = await claimEverything(d, jobId, [a, b, late]);
    for (const [p, slots] of held) await commitAll(d, p, jobId, slots);
    await revealAll(d, a, jobId, held.get(a)!);
    const tx = await revealAll(d, b, jobId, held.get(b)!);
    expect((await eventsOf(d, tx, "SegmentAccepted")).length).to.equal(2);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(2n * unitPrice()); // late units still held
    await expect(revealAll(d, late, jobId, held.get(late)!))
      .to.emit(d.market, "Credited")
      .withArgs(late.address, jobId, CreditKind.Reward, 2n * REWARD);
    expect(await d.market.balanceOf(late.address)).to.equal(2n * REWARD);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
  });

  it("slashes a late replica that reveals a different digest after acceptance", async function () {
    const [a, b, c] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 3, quorum: 2 });
    const held = await claimEverything(d, jobId, [a, b, c]);
    for (const [p, slots] of held) await commitAll(d, p, jobId, slots, p === c ? cheater : honest);
    await revealAll(d, a, jobId, held.get(a)!);
    await revealAll(d, b, jobId, held.get(b)!);
    await expect(revealAll(d, c, jobId, held.get(c)!, cheater)).to.emit(d.market, "ReplicaRejected");
    expect((await d.registry.providerOf(c.address)).staked).to.equal(STAKE - COLLATERAL);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(unitPrice() + COLLATERAL);
    await expectConservation(d);
  });

  it("expires a replica that missed its reveal window after acceptance and refunds its unit", async function () {
    const [a, b, silent] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 3, quorum: 2 });
    const held = await claimEverything(d, jobId, [a, b, silent]);
    for (const [p, slots] of held) await commitAll(d, p, jobId, slots);
    await revealAll(d, a, jobId, held.get(a)!);
    await revealAll(d, b, jobId, held.get(b)!);
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await expect(revealAll(d, silent, jobId, held.get(silent)!)).to.be.revertedWithCustomError(
      d.market,
      "JobMarketRevealWindowClosed",
    );
    await d.market.connect(d.keeper).expire(jobId, held.get(silent)!);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(unitPrice() + COLLATERAL - KEEPER_FEE);
    expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
    await expectConservation(d);
  });

  it("reopens a slot whose reveal window passed before quorum, and the replacement finishes it", async function () {
    const [a, silent, replacement] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa] = await claim(d, a, jobId, 1);
    const [ss] = await claim(d, silent, jobId, 1);
    await commitAll(d, a, jobId, [sa]);
    await commitAll(d, silent, jobId, [ss]);
    await revealAll(d, a, jobId, [sa]);
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await d.market.connect(d.keeper).expire(jobId, [ss]);
    const seg = await d.market.segmentOf(jobId, 0);
    expect(seg.revealDeadline).to.equal(0n);
    expect(seg.assigned).to.equal(1);
    const [sr] = await claim(d, replacement, jobId, 1);
    await commitAll(d, replacement, jobId, [sr]);
    await expect(revealAll(d, replacement, jobId, [sr])).to.emit(d.market, "SegmentAccepted");
    expect(await d.market.balanceOf(a.address)).to.equal(REWARD);
    await expectConservation(d);
  });

  it("lets the last replica reveal without committing once every other slot is sealed", async function () {
    const [first, last] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sf] = await claim(d, first, jobId, 1);
    const [sl] = await claim(d, last, jobId, 1);
    // While the other slot is unsealed a direct reveal would leak the digest: refused.
    await expect(revealAll(d, last, jobId, [sl]))
      .to.be.revertedWithCustomError(d.market, "JobMarketRevealNotOpen")
      .withArgs(jobId, 0);
    await commitAll(d, first, jobId, [sf]);
    const direct = await revealAll(d, last, jobId, [sl]);
    await expect(direct).to.emit(d.market, "RevealsOpened");
    await expect(direct).to.not.emit(d.market, "SegmentAccepted");
    await expect(revealAll(d, first, jobId, [sf]))
      .to.emit(d.market, "SegmentAccepted")
      .withArgs(jobId, 0, Math.min(sf.replica, sl.replica), 0b11);
    expect(await d.market.balanceOf(first.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(last.address)).to.equal(REWARD);
    await expectConservation(d);
  });

  it("a direct reveal that ends in a tie-breaker announces no reveal window (was: RevealsOpened for a segment waiting for its tie-breaker)", async function () {
    const [a, silent, newcomer] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa, ss] = await claimAndCommitEach(d, jobId, [a, silent]);
    await revealAll(d, a, jobId, [sa]);
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await d.market.connect(d.keeper).expire(jobId, [ss]); // the window closes until the slot is sealed again
    const [sn] = await claim(d, newcomer, jobId, 1);
    // The newcomer's slot is the last unsealed one: it reveals directly, disagreeing with A.
    const direct = await revealAll(d, newcomer, jobId, [sn], cheater);
    await expect(direct).to.emit(d.market, "TieBreakerOpened").withArgs(jobId, 0, 3);
    await expect(direct).to.not.emit(d.market, "RevealsOpened");
    const seg = await d.market.segmentOf(jobId, 0);
    expect(seg.revealDeadline).to.equal(0n, "no window is open while the tie-breaker slot is unclaimed");
    expect(seg.status).to.equal(SegmentStatus.Open);
    await expectConservation(d);
  });

  it("refuses a direct reveal after the lease ended, and a plain r=1 job needs no commitment", async function () {
    const [p, q] = d.providers;
    const two = await postJob(d, { segmentCount: 1 });
    const [s1] = await claim(d, p, two, 1);
    const [s2] = await claim(d, q, two, 1);
    await commitAll(d, p, two, [s1]);
    await networkHelpers.time.increase(LEASE + 1);
    await expect(revealAll(d, q, two, [s2])).to.be.revertedWithCustomError(d.market, "JobMarketLeaseExpired");

    const one = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
    const [only] = await claim(d, p, one, 1);
    await expect(revealAll(d, p, one, [only])).to.emit(d.market, "SegmentAccepted");
    await expectConservation(d);
  });

  it("creates a job with an EIP-2612 permit instead of an approval", async function () {
    const requester = d.outsider;
    const params = await (await import("./helpers/driver.ts")).jobParams({ segmentCount: 2, redundancy: 1, quorum: 1 });
    const value = 2n * unitPrice();
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const { chainId } = await ethers.provider.getNetwork();
    const signature = await requester.signTypedData(
      { name: await d.token.name(), version: "1", chainId, verifyingContract: d.token.target as string },
      {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      { owner: requester.address, spender: d.market.target, value, nonce: await d.token.nonces(requester.address), deadline },
    );
    const { v, r, s } = ethers.Signature.from(signature);
    await expect(d.market.connect(requester).createJobWithPermit(params, deadline, v, r, s)).to.emit(d.market, "JobCreated");
    expect(await d.market.totalEscrow()).to.equal(value);
    await expectConservation(d);
  });
});
