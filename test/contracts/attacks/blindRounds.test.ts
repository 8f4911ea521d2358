/**
 * Issue 10, property 2: nobody who commits after a digest is public can use it.
 *
 * Before blind rounds, a tie-breaker (and the new holder of a slot whose holder missed the reveal)
 * took its slot after the other replicas' digests were public, and copying one of them was always
 * paid: it alone decided the segment, and copying the garbage one slashed the honest replica.
 * Now a slot that opens after a reveal in the current round starts the next blind round, whose
 * reveals carry a deeper link of the digest chain (sdk digestChain.ts): a revealed digest hashes
 * down to the seal, but no one can go the other way without the pixels.
 *
 * Each attack below copies what the ReplicasRevealed events published, exactly as the attacker
 * would read it from the chain; on the contracts before blind rounds every one of them was paid.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse } from "ethers";
import {
  COLLATERAL,
  CreditKind,
  REVEAL_WINDOW,
  REWARD,
  SegmentStatus,
  type Deployment,
  type Slot,
  cheater,
  honest,
  claimAndCommitEach,
  claim,
  commitAll,
  commitmentOf,
  deployFixture,
  eventsOf,
  expectConservation,
  networkHelpers,
  postJob,
  revealAll,
  saltOf,
} from "../helpers/driver.ts";

/** The digests a transaction's ReplicasRevealed published, by replica. */
async function publishedDigests(d: Deployment, tx: ContractTransactionResponse): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const e of await eventsOf(d, tx, "ReplicasRevealed")) {
    const slots = e.args.slots as bigint[];
    const digests = e.args.digests as string[];
    slots.forEach((packed, i) => out.set(Number(packed & 0xffn), digests[i]!));
  }
  return out;
}

/** A copier's commit and reveal of a digest it read from the chain (not one it rendered). */
async function commitCopy(d: Deployment, p: HardhatEthersSigner, jobId: bigint, slot: Slot, digest: string) {
  const commitment = commitmentOf(digest, saltOf(p, slot), p.address, jobId, slot.segment);
  await d.market.connect(p).commit(jobId, [{ ...slot, commitment }]);
}
function revealCopy(d: Deployment, p: HardhatEthersSigner, jobId: bigint, slot: Slot, digest: string) {
  return d.market.connect(p).reveal(jobId, [
    { ...slot, digest, salt: saltOf(p, slot), resultCid: `bafycopy-${slot.segment}`, fingerprint: "0x", peerFingerprints: [] },
  ]);
}

describe("Attack (issue 10.2): a replica that has seen the revealed digests", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  /** r = 2, q = 2: honest A and cheater B disagree; returns the published digests and the tie-breaker's slot holder. */
  async function disputedSegment() {
    const [honestA, cheat, copier] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa, sb] = await claimAndCommitEach(d, jobId, [honestA, cheat], [honest, cheater]);
    const published = await publishedDigests(d, await revealAll(d, honestA, jobId, [sa]));
    const last = await revealAll(d, cheat, jobId, [sb], cheater);
    for (const [k, v] of await publishedDigests(d, last)) published.set(k, v);
    await expect(last).to.emit(d.market, "BlindRoundOpened").withArgs(jobId, 0, 1);
    await expect(last).to.emit(d.market, "TieBreakerOpened").withArgs(jobId, 0, 3);
    expect((await d.market.segmentOf(jobId, 0)).round).to.equal(1n);
    const [st] = await claim(d, copier, jobId, 1);
    expect(st).to.deep.equal({ segment: 0, replica: 2 });
    return { jobId, honestA, cheat, copier, sa, sb, st, published };
  }

  it("a tie-breaker copying the honest digest is not paid (before: always paid, it alone decided)", async function () {
    const { jobId, honestA, copier, sa, st, published } = await disputedSegment();
    await commitCopy(d, copier, jobId, st, published.get(sa.replica)!);
    const tx = await revealCopy(d, copier, jobId, st, published.get(sa.replica)!);
    await expect(tx).to.not.emit(d.market, "SegmentAccepted");
    await expect(tx).to.not.emit(d.market, "Credited");
    await expect(tx).to.emit(d.market, "SegmentFailed").withArgs(jobId, 0);
    expect(await d.market.balanceOf(copier.address)).to.equal(0n);
    expect(await d.market.balanceOf(honestA.address)).to.equal(0n);
    expect((await d.registry.providerOf(honestA.address)).staked).to.equal((await d.registry.providerOf(copier.address)).staked, "nobody slashed");
    await expectConservation(d);
  });

  it("a tie-breaker copying the garbage digest cannot slash the honest replica (before: honest A slashed, copier paid)", async function () {
    const { jobId, honestA, cheat, copier, sb, st, published } = await disputedSegment();
    const stakeBefore = (await d.registry.providerOf(honestA.address)).staked;
    await commitCopy(d, copier, jobId, st, published.get(sb.replica)!);
    const tx = await revealCopy(d, copier, jobId, st, published.get(sb.replica)!);
    await expect(tx).to.not.emit(d.market, "ReplicaRejected");
    await expect(tx).to.not.emit(d.market, "SegmentAccepted");
    expect((await d.registry.providerOf(honestA.address)).staked).to.equal(stakeBefore);
    expect(await d.market.balanceOf(cheat.address)).to.equal(0n);
    expect(await d.market.balanceOf(copier.address)).to.equal(0n);
    await expectConservation(d);
  });

  it("a tie-breaker that rendered (the next link of the chain) still settles it: honest paid, cheater slashed", async function () {
    const { jobId, honestA, cheat, copier, sa, sb, st } = await disputedSegment();
    await commitAll(d, copier, jobId, [st]);
    const tx = await revealAll(d, copier, jobId, [st]);
    await expect(tx).to.emit(d.market, "SegmentAccepted").withArgs(jobId, 0, sa.replica, (1 << sa.replica) | (1 << st.replica));
    await expect(tx).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, sb.replica, cheat.address, COLLATERAL);
    await expect(tx).to.emit(d.market, "Credited").withArgs(copier.address, jobId, CreditKind.TieBreakerReward, REWARD);
    await expect(tx).to.emit(d.market, "Credited").withArgs(honestA.address, jobId, CreditKind.Reward, REWARD);
    await expectConservation(d);
  });

  /** r = 2: A revealed, its peer missed the window and was expired (round 1); the newcomer holds the reopened slot. */
  async function reopenedAfterMissedReveal() {
    const [a, silent, newcomer] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa, ss] = await claimAndCommitEach(d, jobId, [a, silent]);
    const published = await publishedDigests(d, await revealAll(d, a, jobId, [sa]));
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await expect(d.market.connect(d.keeper).expire(jobId, [ss])).to.emit(d.market, "BlindRoundOpened").withArgs(jobId, 0, 1);
    const [sn] = await claim(d, newcomer, jobId, 1);
    return { jobId, a, sa, newcomer, sn, published };
  }

  it("the new holder of a slot whose holder missed the reveal cannot reveal a peer's digest directly (before: paid without rendering)", async function () {
    const { jobId, sa, newcomer, sn, published } = await reopenedAfterMissedReveal();
    // Every other slot is sealed: the new holder may reveal directly — the digest it saw is useless.
    const tx = await revealCopy(d, newcomer, jobId, sn, published.get(sa.replica)!);
    await expect(tx).to.not.emit(d.market, "SegmentAccepted");
    await expect(tx).to.not.emit(d.market, "Credited");
    expect((await d.market.segmentOf(jobId, 0)).status).to.equal(SegmentStatus.Open);
    await expectConservation(d);
  });

  it("r = 3, q = 2: a replacement copying the garbage digest cannot out-vote the honest replica (before: garbage accepted, honest slashed)", async function () {
    const [a, cheat, silent, copier] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 3, quorum: 2 });
    const [sa, sb, ss] = await claimAndCommitEach(d, jobId, [a, cheat, silent], [honest, cheater, honest]);
    await revealAll(d, a, jobId, [sa]);
    const published = await publishedDigests(d, await revealAll(d, cheat, jobId, [sb], cheater));
    await networkHelpers.time.increase(REVEAL_WINDOW + 1);
    await d.market.connect(d.keeper).expire(jobId, [ss]);
    const [sc] = await claim(d, copier, jobId, 1);
    const stakeBefore = (await d.registry.providerOf(a.address)).staked;
    const tx = await revealCopy(d, copier, jobId, sc, published.get(sb.replica)!);
    await expect(tx).to.not.emit(d.market, "SegmentAccepted");
    await expect(tx).to.not.emit(d.market, "ReplicaRejected");
    expect((await d.registry.providerOf(a.address)).staked).to.equal(stakeBefore);
    await expectConservation(d);
  });

  it("an honest replacement in the next round agrees with the replica that revealed before it", async function () {
    const { jobId, a, newcomer: replacement, sn: sr } = await reopenedAfterMissedReveal();
    const tx = await revealAll(d, replacement, jobId, [sr]); // direct reveal, link 1
    await expect(tx).to.emit(d.market, "SegmentAccepted");
    expect(await d.market.balanceOf(a.address)).to.equal(REWARD);
    expect(await d.market.balanceOf(replacement.address)).to.equal(REWARD);
    await expectConservation(d);
  });

  it("a slot that opens with no reveal in the current round keeps the round (no round is spent on a lapsed lease)", async function () {
    const [a, b, late] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [sa] = await claim(d, a, jobId, 1);
    const [sb] = await claim(d, b, jobId, 1);
    await commitAll(d, a, jobId, [sa]);
    await commitAll(d, b, jobId, [sb], cheater);
    await revealAll(d, a, jobId, [sa]);
    await revealAll(d, b, jobId, [sb], cheater); // round 1, tie-breaker slot
    const [sl] = await claim(d, late, jobId, 1);
    await networkHelpers.time.increase(Number((await d.market.jobOf(jobId)).leaseDuration) + 1);
    const tx = await d.market.connect(d.keeper).expire(jobId, [sl]);
    await expect(tx).to.not.emit(d.market, "BlindRoundOpened");
    expect((await d.market.segmentOf(jobId, 0)).round).to.equal(1n);
  });
});

describe("Blind rounds: the last round", function () {
  it("a slot that would open after a reveal in round 3 stays shut (no deeper link is left); the segment ends with closeSegments", async function () {
    const d = await networkHelpers.loadFixture(deployFixture);
    const p = d.providers; // five addresses; an expired one may claim the segment again
    const jobId = await postJob(d, { segmentCount: 1, redundancy: 5, quorum: 5 });
    const held = new Map<number, Slot>();
    const take = async (k: number) => {
      const [slot] = await claim(d, p[k]!, jobId, 1);
      expect(slot, `provider ${k} lands on the segment`).to.not.equal(undefined);
      held.set(k, slot!);
    };
    // Each round: the missing slots are taken and committed; one of them reveals, the others miss
    // the window and are expired, which starts the next round (someone revealed in this one).
    let revealer = 0;
    for (const k of [0, 1, 2, 3, 4]) await take(k);
    for (let round = 0; round <= 3; round++) {
      const waiting = [...held.keys()].filter((k) => k >= revealer);
      for (const k of waiting) await commitAll(d, p[k]!, jobId, [held.get(k)!]);
      await revealAll(d, p[revealer]!, jobId, [held.get(revealer)!]);
      await networkHelpers.time.increase(REVEAL_WINDOW + 1);
      const missed = waiting.filter((k) => k !== revealer).map((k) => held.get(k)!);
      const tx = await d.market.connect(d.keeper).expire(jobId, missed);
      if (round < 3) {
        await expect(tx).to.emit(d.market, "BlindRoundOpened").withArgs(jobId, 0, round + 1);
        revealer++;
        for (const k of waiting.filter((k) => k >= revealer)) await take(k);
      } else {
        // Round 3 had a reveal: a fifth opening would need link 4, which does not exist.
        await expect(tx).to.not.emit(d.market, "BlindRoundOpened");
      }
    }
    const seg = await d.market.segmentOf(jobId, 0);
    expect(seg.round).to.equal(3n);
    expect(seg.status).to.equal(SegmentStatus.Open);
    expect(seg.assigned).to.equal(4, "four revealed, the fifth slot empty");
    expect(await claim(d, p[4]!, jobId, 1)).to.deep.equal([], "the empty slot is not claimable: the ticket lapses");
    await networkHelpers.time.increaseTo((await d.market.jobOf(jobId)).deadline + 1n);
    await expect(d.market.connect(d.outsider).closeSegments(jobId, [0])).to.emit(d.market, "SegmentClosed").withArgs(jobId, 0);
    await expectConservation(d);
  });
});
