/**
 * Issue 9 items 8 and 9, replayed against the real Ignition deployment: reputation farmed for
 * 64 wei (5,000 → 9,705 with a self-posted r = 1 job, then a claim on a job asking 9,000), and
 * providers paying reputation for scenes nobody can render (8,571 → 4,615 after three broken jobs).
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import {
  FEE_BPS,
  REWARD,
  UNIT,
  type Deployment,
  claim,
  commitAll,
  deployFixture,
  ethers,
  eventsOf,
  expectConservation,
  jobParams,
  networkHelpers,
  postJob,
  revealAll,
  unitPrice,
} from "./helpers/driver.ts";
import { reputationScore } from "../../sdk/src/protocol/reputation.ts";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";

const SCENE_FAULT = 1;
const RENDER_TIMEOUT = 3;
const REFUSAL_FEE = 6; // CreditKind.RefusalFee (after Reward, Fee, Refund, TieBreakerReward, Compensation, KeeperFee)

/** The deployment's minCreditReward, as its CreditRuleSet event announced it (the market has no getter). */
async function minCreditReward(d: Deployment): Promise<bigint> {
  const [log] = await d.market.queryFilter(d.market.filters.CreditRuleSet(), 0);
  return log.args.minCreditReward;
}

/** `requester` posts an r = 1 job of `segments` segments at `reward`; `farmer` claims and reveals all of it. */
async function farm(d: Deployment, requester: HardhatEthersSigner, farmer: HardhatEthersSigner, segments: number, reward: bigint) {
  await d.token.connect(requester).approve(d.market.target, ethers.MaxUint256);
  const params = await jobParams({ segmentCount: segments, redundancy: 1, quorum: 1, rewardPerReplica: reward, collateralPerReplica: reward });
  const tx = await d.market.connect(requester).createJob(params);
  const [created] = await eventsOf(d, tx, "JobCreated");
  const jobId = created.args.jobId as bigint;
  const slots = await claim(d, farmer, jobId, segments);
  await revealAll(d, farmer, jobId, slots); // r = 1: the only replica reveals without a commitment
  return jobId;
}

describe("Attacks: reputation farming and scene faults (issue 9.8, 9.9)", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  describe("issue 9.8: reputation costs what it is worth", function () {
    it("a self-posted job earns no reputation (was: 5,000 -> 9,705 for 64 wei, then a 9,000 job)", async function () {
      const farmer = d.providers[0];
      await farm(d, farmer, farmer, 64, 1n);
      await farm(d, farmer, farmer, 16, REWARD); // not even at a real price
      expect(await d.registry.reputation(farmer.address)).to.equal(5_000);
      const demanding = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, minReputation: 9_000 });
      await expect(d.market.connect(farmer).requestClaim(demanding, 1))
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryReputationTooLow")
        .withArgs(farmer.address, 5_000, 9_000);
      await expectConservation(d);
    });

    it("a second address as requester earns nothing below minCreditReward", async function () {
      const [farmer] = d.providers;
      const sybil = d.outsider;
      expect(await minCreditReward(d)).to.equal(UNIT);
      await farm(d, sybil, farmer, 64, 1n);
      await farm(d, sybil, farmer, 64, UNIT - 1n);
      expect(await d.registry.reputation(farmer.address)).to.equal(5_000);
      expect((await d.registry.providerOf(farmer.address)).accepted).to.equal(0);
    });

    it("reaching 9,000 through a second address takes 16 credited replicas and 16 protocol fees on minCreditReward (>= 0.16 tokens at 1 %; was 64 wei)", async function () {
      const [farmer] = d.providers;
      const sybil = d.outsider;
      const min = await minCreditReward(d);
      const treasuryBefore = await d.market.balanceOf(d.admin.address);
      await farm(d, sybil, farmer, 15, min);
      expect(await d.registry.reputation(farmer.address)).to.equal(reputationScore({ accepted: 15, rejected: 0, expired: 0, abandoned: 0 }));
      expect(await d.registry.reputation(farmer.address)).to.be.lessThan(9_000);
      const demanding = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, minReputation: 9_000 });
      await expect(d.market.connect(farmer).requestClaim(demanding, 1)).to.be.revertedWithCustomError(d.registry, "ProviderRegistryReputationTooLow");
      await farm(d, sybil, farmer, 1, min);
      expect(await d.registry.reputation(farmer.address)).to.equal(9_000);
      // What it cost: the protocol fee on 16 rewards of at least minCreditReward, gone to the treasury.
      const fees = (await d.market.balanceOf(d.admin.address)) - treasuryBefore;
      expect(fees).to.equal((16n * min * FEE_BPS) / 10_000n);
      expect(fees).to.be.greaterThanOrEqual((16n * UNIT) / 100n);
      await claim(d, farmer, demanding, 1);
      await expectConservation(d);
    });
  });

  describe("issue 9.9: a scene nobody can render is the requester's cost, not the provider's", function () {
    it("a SceneFault give-back costs no reputation (was: 8,571 -> 4,615 after three broken jobs); other reasons still count", async function () {
      const [p, q] = d.providers;
      for (const provider of [p, q]) {
        const jobId = await postJob(d, { segmentCount: 10, redundancy: 1, quorum: 1 });
        await revealAll(d, provider, jobId, await claim(d, provider, jobId, 10));
        expect(await d.registry.reputation(provider.address)).to.equal(8_571);
      }
      for (let broken = 0; broken < 3; broken++) {
        const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2, manifestCid: `bafybroken${broken}` });
        const [sp] = await claim(d, p, jobId, 1);
        const [sq] = await claim(d, q, jobId, 1);
        await d.market.connect(p).abandon(jobId, [sp], SCENE_FAULT, "Parse Error: No objects in scene.");
        await d.market.connect(q).abandon(jobId, [sq], RENDER_TIMEOUT, "");
      }
      expect(await d.registry.reputation(p.address)).to.equal(8_571);
      expect((await d.registry.providerOf(p.address)).abandoned).to.equal(0);
      expect((await d.registry.providerOf(q.address)).abandoned).to.equal(3);
      expect(await d.registry.reputation(q.address)).to.equal(reputationScore({ accepted: 10, rejected: 0, expired: 0, abandoned: 3 }));
    });

    it("the requester of a segment nobody could render pays its first refuser SCENE_FAULT_FEE_BPS of one reward, once per segment", async function () {
      const [p, q] = d.providers;
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2 });
      const [sp] = await claim(d, p, jobId, 1);
      const [sq] = await claim(d, q, jobId, 1);
      await d.market.connect(p).abandon(jobId, [sp], SCENE_FAULT, "Parse Error");
      await d.market.connect(q).abandon(jobId, [sq], SCENE_FAULT, "Parse Error");
      await d.market.connect(d.requester).cancelJob(jobId);
      const compensation = await d.market.balanceOf(d.requester.address); // the two give-backs' forfeits
      const tx = await d.market.connect(d.outsider).closeSegments(jobId, [0]);
      const fee = (REWARD * BigInt(jobMarketConstants.SCENE_FAULT_FEE_BPS)) / 10_000n;
      expect(fee).to.equal(REWARD / 10n);
      const credits = (await eventsOf(d, tx, "Credited")).map((e) => [e.args.account, Number(e.args.kind), e.args.amount]);
      expect(credits).to.deep.include([p.address, REFUSAL_FEE, fee]);
      expect(credits.filter((c) => c[1] === REFUSAL_FEE)).to.have.length(1); // q refused too: still one fee
      expect(await d.market.balanceOf(p.address)).to.equal(fee);
      expect(await d.market.balanceOf(q.address)).to.equal(0n);
      expect(await d.market.balanceOf(d.requester.address)).to.equal(compensation + 2n * unitPrice() - fee);
      expect((await d.market.jobOf(jobId)).escrow).to.equal(0n);
      await expectConservation(d);
    });

    it("a provider lying 'scene fault' on a scene others render earns nothing and cannot take the segment back", async function () {
      const [liar, a, b] = d.providers;
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 2, quorum: 2 });
      const [sl] = await claim(d, liar, jobId, 1);
      await d.market.connect(liar).abandon(jobId, [sl], SCENE_FAULT, "");
      await expect(d.market.connect(liar).requestClaim(jobId, 1)).to.be.revertedWithCustomError(d.market, "JobMarketGiveBackCooldown");
      const [sa] = await claim(d, a, jobId, 1);
      const [sb] = await claim(d, b, jobId, 1);
      await commitAll(d, a, jobId, [sa]);
      await revealAll(d, b, jobId, [sb]); // b's reveal opens the window (every other slot committed)
      await expect(revealAll(d, a, jobId, [sa])).to.emit(d.market, "SegmentAccepted");
      expect(await d.market.balanceOf(liar.address)).to.equal(0n);
      await networkHelpers.time.increase(2 * 86_400);
      await expect(d.market.closeSegments(jobId, [0])).to.be.revertedWithCustomError(d.market, "JobMarketSegmentNotClosable");
      expect(await d.market.balanceOf(liar.address)).to.equal(0n);
      await expectConservation(d);
    });
  });
});
