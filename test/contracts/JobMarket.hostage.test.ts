/**
 * Issue 9 item 4, hostage slots: the attacks of the security review replayed against the real
 * Ignition deployment. Before the fix `abandon` returned all collateral and the abandoner could
 * claim the same segment again at once: one provider held 16 of 16 slots for 5 lease periods
 * (honest providers got NothingToClaim), and a griefer cycling claim/abandon kept an honest
 * committed replica's collateral locked until the job deadline.
 */
import { expect } from "chai";
import {
  COLLATERAL,
  LEASE,
  STAKE,
  type Deployment,
  claim,
  commitAll,
  deployFixture,
  eventsOf,
  expectConservation,
  networkHelpers,
  postJob,
  unitPrice,
} from "./helpers/driver.ts";
import { abandonForfeit } from "../../sdk/src/protocol/predicates.ts";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";

const FORFEIT_BPS = 5_000n;

describe("Attacks: hostage slots (issue 9.4)", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("a provider that abandons and re-claims cannot hold a job's slots: 16 of 16 go to honest providers (was: held for 5 leases)", async function () {
    const [attacker, honest] = d.providers;
    const jobId = await postJob(d, { segmentCount: 16, redundancy: 1, quorum: 1 });
    let heldByAttacker = (await claim(d, attacker, jobId, 16)).length;
    expect(heldByAttacker).to.equal(16);
    let honestGot = 0;
    // The review's loop, once per lease: give everything back just before the lease ends, claim it again.
    for (let lease = 0; lease < 5; lease++) {
      await networkHelpers.time.increase(LEASE - 30);
      const mine = [];
      for (let segment = 0; segment < 16; segment++) {
        const rep = await d.market.replicaOf(jobId, segment, 0);
        if (rep.provider === attacker.address && rep.state === 1n) mine.push({ segment, replica: 0 });
      }
      if (mine.length > 0) await d.market.connect(attacker).abandon(jobId, mine, 0, "");
      // Claim tickets: a give-back bars new requests on the job for one lease (JobMarketGiveBackCooldown),
      // and once that passes the honest provider holds every segment, so the ticket finds nothing.
      if (lease === 0) await expect(d.market.connect(attacker).requestClaim(jobId, 16)).to.be.revertedWithCustomError(d.market, "JobMarketGiveBackCooldown");
      else {
        const got = await claim(d, attacker, jobId, 16).catch((error: unknown) => {
          expect(String(error)).to.include("JobMarketGiveBackCooldown");
          return [];
        });
        expect(got).to.deep.equal([]);
      }
      if (lease === 0) honestGot = (await claim(d, honest, jobId, 16)).length;
      heldByAttacker = 0;
      for (let segment = 0; segment < 16; segment++) {
        if ((await d.market.replicaOf(jobId, segment, 0)).provider === attacker.address && (await d.market.replicaOf(jobId, segment, 0)).state === 1n) heldByAttacker++;
      }
      expect(heldByAttacker).to.equal(0);
    }
    expect(honestGot).to.equal(16);
    // The one lease it held cost it: 16 give-backs at 570 of 600 s, 47.5 % of each collateral.
    const forfeited = (COLLATERAL * FORFEIT_BPS * BigInt(LEASE - 30 + 1)) / (10_000n * BigInt(LEASE));
    expect((await d.registry.providerOf(attacker.address)).staked).to.be.closeTo(STAKE - 16n * forfeited, 16n * COLLATERAL / 1000n);
    await expectConservation(d);
  });

  it("an abandon forfeits collateral pro rata of the lease held, credited to the requester", async function () {
    const [quitter] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
    const [slot] = await claim(d, quitter, jobId, 1);
    const leaseEnd = (await d.market.replicaOf(jobId, 0, 0)).leaseEnd;
    await networkHelpers.time.setNextBlockTimestamp(leaseEnd - BigInt(LEASE / 2));
    const half = (COLLATERAL * FORFEIT_BPS) / 10_000n / 2n; // half the lease used: 25 % of the collateral
    const tx = await d.market.connect(quitter).abandon(jobId, [slot], 4, "out of memory");
    await expect(tx).to.emit(d.market, "ReplicaAbandoned").withArgs(jobId, 0, 0, quitter.address, 4, "out of memory", half);
    await expect(tx).to.emit(d.registry, "StakeSlashed").withArgs(quitter.address, half, STAKE - half);
    const [credit] = await eventsOf(d, tx, "Credited");
    expect([credit.args.account, credit.args.kind, credit.args.amount]).to.deep.equal([d.requester.address, 4n, half]);
    expect(await d.registry.freeStake(quitter.address)).to.equal(STAKE - half);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(half);
    // The sdk computes the same figure.
    expect(abandonForfeit({ collateralPerReplica: COLLATERAL, leaseDuration: LEASE }, leaseEnd, leaseEnd - BigInt(LEASE / 2))).to.equal(half);
    await expectConservation(d);
  });

  it("the abandoner may claim the segment again only after its lease would have ended plus one lease; others at once", async function () {
    const [quitter, other] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2 });
    const [slot] = await claim(d, quitter, jobId, 1);
    const leaseEnd = (await d.market.replicaOf(jobId, 0, slot.replica)).leaseEnd;
    await d.market.connect(quitter).abandon(jobId, [slot], 6, "");
    // The emptied slot names its last holder and lease end (the cooldown), as the sdk fold says.
    const record = await d.market.replicaOf(jobId, 0, slot.replica);
    expect([record.provider, record.state, record.leaseEnd]).to.deep.equal([quitter.address, 0n, leaseEnd]);
    // For one lease after a give-back the quitter may not even ask (no re-draw by giving back) ...
    await expect(d.market.connect(quitter).requestClaim(jobId, 1)).to.be.revertedWithCustomError(d.market, "JobMarketGiveBackCooldown");
    // ... then it may, but its ticket skips the segment it gave back until leaseEnd + one lease.
    await networkHelpers.time.increaseTo(leaseEnd + BigInt(LEASE) - 10n);
    expect(await claim(d, quitter, jobId, 1)).to.deep.equal([]);
    // Another provider takes a slot meanwhile: the one that keeps no record (slot 1), so the record stays.
    const [otherSlot] = await claim(d, other, jobId, 1);
    expect(otherSlot.replica).to.equal(1 - slot.replica);
    await networkHelpers.time.increaseTo(leaseEnd + BigInt(LEASE) + 1n);
    const [again] = await claim(d, quitter, jobId, 1);
    expect(again).to.deep.equal(slot);
    await expectConservation(d);
  });

  it("an honest committed replica waits at most COMMIT_WAIT_LEASES leases for its peers, then anyone closes the segment (was: until the deadline)", async function () {
    const [honest, g1, g2, g3] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2 });
    const [hSlot] = await claim(d, honest, jobId, 1);
    await commitAll(d, honest, jobId, [hSlot]);
    const honestLeaseEnd = (await d.market.replicaOf(jobId, 0, hSlot.replica)).leaseEnd;
    const wait = BigInt(LEASE) * BigInt(jobMarketConstants.COMMIT_WAIT_LEASES);
    expect(wait).to.equal(3n * BigInt(LEASE));
    // Griefer addresses take turns holding the other slot, each giving it back just before its lease ends
    // (three of them: an address that gave a slot back may not request again for one lease).
    let forfeited = 0n;
    let holder = g1;
    let [gSlot] = await claim(d, holder, jobId, 1);
    while ((await networkHelpers.time.latest()) + LEASE < Number(honestLeaseEnd + wait)) {
      await expect(d.market.connect(d.outsider).closeSegments(jobId, [0])).to.be.revertedWithCustomError(d.market, "JobMarketSegmentNotClosable");
      await networkHelpers.time.increase(LEASE - 5);
      const tx = await d.market.connect(holder).abandon(jobId, [gSlot], 5, "");
      const [ev] = await eventsOf(d, tx, "ReplicaAbandoned");
      forfeited += ev.args.forfeited as bigint;
      holder = holder === g1 ? g2 : holder === g2 ? g3 : g1;
      [gSlot] = await claim(d, holder, jobId, 1);
    }
    const bound = honestLeaseEnd + wait + 1n;
    if (BigInt(await networkHelpers.time.latest()) < bound) await networkHelpers.time.increaseTo(bound);
    const before = await d.market.balanceOf(d.requester.address);
    const tx = await d.market.connect(d.outsider).closeSegments(jobId, [0]);
    await expect(tx).to.emit(d.market, "SegmentClosed").withArgs(jobId, 0);
    await expect(tx).to.emit(d.market, "ReplicaReleased").withArgs(jobId, 0, hSlot.replica, honest.address);
    expect(await d.registry.freeStake(honest.address)).to.equal(STAKE);
    // The requester has its budget back plus what the griefers forfeited: at least one collateral for three leases held.
    expect(await d.market.balanceOf(d.requester.address)).to.equal(before + 2n * unitPrice());
    expect(forfeited).to.be.greaterThanOrEqual(COLLATERAL);
    let lost = 0n;
    for (const g of [g1, g2, g3]) lost += STAKE - (await d.registry.providerOf(g.address)).staked;
    expect(lost).to.equal(forfeited);
    expect(before).to.equal(forfeited);
    await expectConservation(d);
  });

  it("a segment whose peers commit in time is not closable early", async function () {
    const [a, b] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2 });
    const [sa] = await claim(d, a, jobId, 1);
    await commitAll(d, a, jobId, [sa]);
    await networkHelpers.time.increase(LEASE * 3);
    const [sb] = await claim(d, b, jobId, 1);
    await commitAll(d, b, jobId, [sb]); // every slot committed: the reveal window opens
    await networkHelpers.time.increase(LEASE * 2);
    await expect(d.market.closeSegments(jobId, [0])).to.be.revertedWithCustomError(d.market, "JobMarketSegmentNotClosable");
  });
});
