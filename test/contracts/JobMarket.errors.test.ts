import { expect } from "chai";
import {
  LEASE,
  REWARD,
  type Deployment,
  claim,
  commitAll,
  commitmentOf,
  deployFixture,
  ethers,
  jobParams,
  networkHelpers,
  postJob,
  revealInputs,
  extensionBlueprint,
} from "./helpers/driver.ts";

/** Every custom error of JobMarket, provoked once, with its arguments. */
describe("JobMarket errors", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  async function create(overrides: Record<string, unknown>) {
    return d.market.connect(d.requester).createJob(await jobParams(overrides));
  }

  describe("createJob validation", function () {
    it("JobMarketEmptyManifest", async function () {
      await expect(create({ manifestCid: "" })).to.be.revertedWithCustomError(d.market, "JobMarketEmptyManifest");
    });

    it("JobMarketInvalidSegmentCount for zero and for more than MAX_SEGMENTS", async function () {
      await expect(create({ segmentCount: 0 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidSegmentCount")
        .withArgs(0, 1_000_000);
      await expect(create({ segmentCount: 1_000_001 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidSegmentCount");
    });

    it("JobMarketInvalidRedundancy for 0 and 6", async function () {
      await expect(create({ redundancy: 0, quorum: 0 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidRedundancy")
        .withArgs(0, 5);
      await expect(create({ redundancy: 6, quorum: 4 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidRedundancy");
    });

    it("JobMarketInvalidQuorum when not a strict majority or above redundancy", async function () {
      await expect(create({ redundancy: 2, quorum: 1 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidQuorum")
        .withArgs(1, 2);
      await expect(create({ redundancy: 3, quorum: 4 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidQuorum");
    });

    it("JobMarketZeroReward", async function () {
      await expect(create({ rewardPerReplica: 0 })).to.be.revertedWithCustomError(d.market, "JobMarketZeroReward");
    });

    it("JobMarketCollateralBelowReward (lazy copying must never pay)", async function () {
      await expect(create({ collateralPerReplica: REWARD - 1n }))
        .to.be.revertedWithCustomError(d.market, "JobMarketCollateralBelowReward")
        .withArgs(REWARD - 1n, REWARD);
    });

    it("JobMarketInvalidLease", async function () {
      await expect(create({ leaseDuration: 29 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidLease")
        .withArgs(29, 30, 7 * 86_400);
    });

    it("JobMarketInvalidRevealWindow", async function () {
      await expect(create({ revealWindow: 8 * 86_400 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidRevealWindow");
    });

    it("JobMarketInvalidDeadline when too close or too far", async function () {
      const now = await networkHelpers.time.latest();
      await expect(create({ deadline: now + LEASE })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidDeadline");
      await expect(create({ deadline: now + 400 * 86_400 })).to.be.revertedWithCustomError(d.market, "JobMarketInvalidDeadline");
    });

    it("JobMarketInvalidMinReputation", async function () {
      await expect(create({ minReputation: 10_001 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidMinReputation")
        .withArgs(10_001, 10_000);
    });

    it("reverts the token transfer when the requester has not approved or lacks funds", async function () {
      const params = await jobParams();
      await expect(d.market.connect(d.outsider).createJob(params)).to.be.revertedWithCustomError(
        d.token,
        "ERC20InsufficientAllowance",
      );
    });
  });

  describe("lifecycle", function () {
    it("JobMarketUnknownJob", async function () {
      await expect(d.market.requestClaim(99, 1)).to.be.revertedWithCustomError(d.market, "JobMarketUnknownJob").withArgs(99);
    });

    it("JobMarketInvalidClaimCount for 0 and above MAX_BATCH", async function () {
      const jobId = await postJob(d);
      await expect(d.market.connect(d.providers[0]).requestClaim(jobId, 0))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidClaimCount")
        .withArgs(0, 64);
      await expect(d.market.connect(d.providers[0]).requestClaim(jobId, 65)).to.be.revertedWithCustomError(
        d.market,
        "JobMarketInvalidClaimCount",
      );
    });

    it("registry errors surface through requestClaim: not registered, reputation too low, insufficient free stake", async function () {
      const jobId = await postJob(d);
      await expect(d.market.connect(d.outsider).requestClaim(jobId, 1))
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotRegistered")
        .withArgs(d.outsider.address);
      const picky = await postJob(d, { minReputation: 6000 });
      await expect(d.market.connect(d.providers[0]).requestClaim(picky, 1))
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryReputationTooLow")
        .withArgs(d.providers[0].address, 5000, 6000);
      const rich = await postJob(d, { collateralPerReplica: 2_000n * 10n ** 18n, segmentCount: 1, redundancy: 1, quorum: 1 });
      await expect(d.market.connect(d.providers[0]).requestClaim(rich, 1)).to.be.revertedWithCustomError(
        d.registry,
        "ProviderRegistryInsufficientFreeStake",
      );
    });

    it("JobMarketEmptyBatch and JobMarketBatchTooLarge", async function () {
      const jobId = await postJob(d);
      await expect(d.market.commit(jobId, [])).to.be.revertedWithCustomError(d.market, "JobMarketEmptyBatch");
      const many = Array.from({ length: 65 }, () => ({ segment: 0, replica: 0, commitment: ethers.ZeroHash }));
      await expect(d.market.commit(jobId, many))
        .to.be.revertedWithCustomError(d.market, "JobMarketBatchTooLarge")
        .withArgs(65, 64);
    });

    it("JobMarketInvalidSegment and JobMarketInvalidReplica", async function () {
      const jobId = await postJob(d, { segmentCount: 2 });
      const c = ethers.id("c");
      await expect(d.market.commit(jobId, [{ segment: 2, replica: 0, commitment: c }]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidSegment")
        .withArgs(jobId, 2);
      await expect(d.market.commit(jobId, [{ segment: 0, replica: 6, commitment: c }]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidReplica")
        .withArgs(jobId, 0, 6);
    });

    it("JobMarketNotReplicaHolder when someone else commits for a replica", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      const [slot] = await claim(d, d.providers[0], jobId, 1);
      await expect(commitAll(d, d.providers[1], jobId, [slot]))
        .to.be.revertedWithCustomError(d.market, "JobMarketNotReplicaHolder")
        .withArgs(jobId, 0, slot.replica, d.providers[1].address);
    });

    it("JobMarketWrongReplicaState on a duplicate commit and on revealing a settled replica again", async function () {
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 3, quorum: 2 });
      const [a, b, c] = d.providers;
      const [sa] = await claim(d, a, jobId, 1);
      const [sb] = await claim(d, b, jobId, 1);
      const [sc] = await claim(d, c, jobId, 1);
      await commitAll(d, a, jobId, [sa]);
      await expect(commitAll(d, a, jobId, [sa]))
        .to.be.revertedWithCustomError(d.market, "JobMarketWrongReplicaState")
        .withArgs(jobId, 0, sa.replica, 2);
      await commitAll(d, b, jobId, [sb]);
      await commitAll(d, c, jobId, [sc]);
      await d.market.connect(a).reveal(jobId, revealInputs(a, [sa]));
      await d.market.connect(b).reveal(jobId, revealInputs(b, [sb])); // accepted; c may still reveal
      await expect(d.market.connect(a).reveal(jobId, revealInputs(a, [sa])))
        .to.be.revertedWithCustomError(d.market, "JobMarketWrongReplicaState")
        .withArgs(jobId, 0, sa.replica, 4);
      // Once nothing can reveal any more, the slots are cleared: a further reveal holds nothing.
      await d.market.connect(c).reveal(jobId, revealInputs(c, [sc]));
      expect((await d.market.replicaOf(jobId, 0, sa.replica)).provider).to.equal(ethers.ZeroAddress);
      await expect(d.market.connect(a).reveal(jobId, revealInputs(a, [sa]))).to.be.revertedWithCustomError(
        d.market,
        "JobMarketNotReplicaHolder",
      );
    });

    it("JobMarketLeaseExpired for a late commit and a late abandon", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      const p = d.providers[0];
      const [slot] = await claim(d, p, jobId, 1);
      await networkHelpers.time.increase(LEASE + 1);
      await expect(commitAll(d, p, jobId, [slot])).to.be.revertedWithCustomError(d.market, "JobMarketLeaseExpired");
      await expect(d.market.connect(p).abandon(jobId, [slot], 0, "")).to.be.revertedWithCustomError(d.market, "JobMarketLeaseExpired");
    });

    it("JobMarketAbandonDetailTooLong for a give-back reason over MAX_ABANDON_DETAIL bytes, and an out-of-range reason reverts", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      const p = d.providers[0];
      const [slot] = await claim(d, p, jobId, 1);
      await expect(d.market.connect(p).abandon(jobId, [slot], 1, "x".repeat(257)))
        .to.be.revertedWithCustomError(d.market, "JobMarketAbandonDetailTooLong")
        .withArgs(257, 256);
      await expect(d.market.connect(p).abandon(jobId, [slot], 7, "")).to.revert(ethers);
      await expect(d.market.connect(p).abandon(jobId, [slot], 6, "x".repeat(256))).to.emit(d.market, "ReplicaAbandoned");
    });

    it("JobMarketZeroCommitment", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      const [slot] = await claim(d, d.providers[0], jobId, 1);
      await expect(d.market.connect(d.providers[0]).commit(jobId, [{ ...slot, commitment: ethers.ZeroHash }]))
        .to.be.revertedWithCustomError(d.market, "JobMarketZeroCommitment")
        .withArgs(jobId, 0);
    });

    it("JobMarketRevealNotOpen until every slot has committed", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      const p = d.providers[0];
      const [slot] = await claim(d, p, jobId, 1);
      await commitAll(d, p, jobId, [slot]);
      await expect(d.market.connect(p).reveal(jobId, revealInputs(p, [slot])))
        .to.be.revertedWithCustomError(d.market, "JobMarketRevealNotOpen")
        .withArgs(jobId, 0);
    });

    it("JobMarketCommitmentMismatch when the digest or salt differs, or another address replays it", async function () {
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      const p = d.providers[0];
      const [slot] = await claim(d, p, jobId, 1);
      await commitAll(d, p, jobId, [slot]);
      const [input] = revealInputs(p, [slot]);
      await expect(d.market.connect(p).reveal(jobId, [{ ...input, digest: ethers.id("other") }]))
        .to.be.revertedWithCustomError(d.market, "JobMarketCommitmentMismatch")
        .withArgs(jobId, 0, 0);
      await expect(d.market.connect(p).reveal(jobId, [{ ...input, salt: ethers.id("other") }])).to.be.revertedWithCustomError(
        d.market,
        "JobMarketCommitmentMismatch",
      );
      // The commitment binds the provider: the same preimage from another address is not the same commitment.
      expect(commitmentOf(input.digest, input.salt, d.providers[1].address, jobId, 0)).to.not.equal(
        commitmentOf(input.digest, input.salt, p.address, jobId, 0),
      );
    });

    it("JobMarketEmptyResultCid", async function () {
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      const p = d.providers[0];
      const [slot] = await claim(d, p, jobId, 1);
      await commitAll(d, p, jobId, [slot]);
      const [input] = revealInputs(p, [slot]);
      await expect(d.market.connect(p).reveal(jobId, [{ ...input, resultCid: "" }])).to.be.revertedWithCustomError(
        d.market,
        "JobMarketEmptyResultCid",
      );
    });

    it("JobMarketNotRequester for cancel and recordOutput; JobMarketJobNotOpen on a second cancel", async function () {
      const jobId = await postJob(d);
      await expect(d.market.connect(d.outsider).cancelJob(jobId))
        .to.be.revertedWithCustomError(d.market, "JobMarketNotRequester")
        .withArgs(jobId, d.outsider.address);
      await expect(d.market.connect(d.outsider).recordOutput(jobId, "bafyout")).to.be.revertedWithCustomError(
        d.market,
        "JobMarketNotRequester",
      );
      await expect(d.market.connect(d.requester).recordOutput(jobId, "bafyout"))
        .to.emit(d.market, "OutputRecorded")
        .withArgs(jobId, "bafyout");
      await d.market.connect(d.requester).cancelJob(jobId);
      await expect(d.market.connect(d.requester).cancelJob(jobId)).to.be.revertedWithCustomError(d.market, "JobMarketJobNotOpen");
    });

    it("JobMarketNothingToWithdraw", async function () {
      await expect(d.market.connect(d.outsider).withdraw())
        .to.be.revertedWithCustomError(d.market, "JobMarketNothingToWithdraw")
        .withArgs(d.outsider.address);
    });

    it("JobMarketNotExpirable for an empty slot and for a lease still running", async function () {
      const jobId = await postJob(d, { segmentCount: 1 });
      await expect(d.market.expire(jobId, [{ segment: 0, replica: 0 }])).to.be.revertedWithCustomError(
        d.market,
        "JobMarketNotExpirable",
      );
      await expect(d.market.expire(jobId, [{ segment: 0, replica: 6 }])).to.be.revertedWithCustomError(
        d.market,
        "JobMarketInvalidReplica",
      );
    });
  });

  describe("admin", function () {
    it("caps the fee (JobMarketFeeTooHigh), rejects a zero treasury and non-admin callers", async function () {
      await expect(d.market.connect(d.admin).scheduleFee(1_001))
        .to.be.revertedWithCustomError(d.market, "JobMarketFeeTooHigh")
        .withArgs(1_001, 1_000);
      await expect(d.market.connect(d.admin).setTreasury(ethers.ZeroAddress)).to.be.revertedWithCustomError(
        d.market,
        "JobMarketZeroAddress",
      );
      await expect(d.market.connect(d.outsider).scheduleFee(0)).to.be.revertedWithCustomError(
        d.market,
        "OwnableUnauthorizedAccount",
      );
      await expect(d.market.connect(d.admin).scheduleFee(250)).to.emit(d.market, "FeeScheduled");
      await expect(d.market.connect(d.admin).setTreasury(d.keeper.address))
        .to.emit(d.market, "TreasuryChanged")
        .withArgs(d.keeper.address);
    });

    it("a fee change applies to new jobs only: existing escrow keeps its snapshot", async function () {
      const before = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      await d.market.connect(d.admin).scheduleFee(1_000);
      await networkHelpers.time.increase(3 * 86_400);
      await d.market.applyFee();
      const after = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      expect((await d.market.jobOf(before)).feeBps).to.equal(100);
      expect((await d.market.jobOf(after)).escrow).to.equal(REWARD + REWARD / 10n);
    });

    it("rejects a zero token or admin at construction (JobMarketZeroAddress)", async function () {
      const Market = await ethers.getContractFactory("JobMarket");
      await expect(Market.deploy(ethers.ZeroAddress, 3600, d.admin.address, d.admin.address, 0, 30, 30, 0, await extensionBlueprint())).to.be.revertedWithCustomError(
        Market,
        "JobMarketZeroAddress",
      );
      await expect(Market.deploy(d.token.target, 3600, ethers.ZeroAddress, d.admin.address, 0, 30, 30, 0, await extensionBlueprint())).to.be.revertedWithCustomError(
        Market,
        "OwnableInvalidOwner",
      );
    });
  });
});
