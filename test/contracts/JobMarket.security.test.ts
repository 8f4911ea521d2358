/**
 * The attacks of the security review (issue 9), each replayed against the real Ignition
 * deployment and shown blocked.
 */
import { expect } from "chai";
import type { BaseContract, ParamType } from "ethers";
import {
  COLLATERAL,
  REVEAL_WINDOW,
  REWARD,
  STAKE,
  SegmentStatus,
  type Deployment,
  type Slot,
  claim,
  commitAll,
  deployFixture,
  ethers,
  eventsOf,
  expectConservation,
  ignition,
  jobParams,
  networkHelpers,
  postJob,
  revealAll,
  unitPrice,
  extensionBlueprint,
} from "./helpers/driver.ts";
import { bitmapSlots, closeAllBut } from "../../scripts/bench/claimBitmap.ts";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";
import TessellateModule from "../../ignition/modules/Tessellate.ts";
import TessellateWithTokenModule from "../../ignition/modules/TessellateWithToken.ts";

const KEEPER_FEE = COLLATERAL / 10n;

/** A zero value of any ABI type, so that every function can be called with some arguments. */
function zeroOf(type: ParamType): unknown {
  if (type.baseType === "array") return [];
  if (type.baseType === "tuple") return type.components!.map(zeroOf);
  if (type.baseType === "address") return ethers.ZeroAddress;
  if (type.baseType === "bool") return false;
  if (type.baseType === "string") return "";
  if (type.baseType.startsWith("bytes")) return type.baseType === "bytes" ? "0x" : ethers.zeroPadValue("0x", Number(type.baseType.slice(5)));
  return 0;
}

/** Names of the state-changing functions that revert for `caller` with one of `errors`. */
async function guardedFunctions(contract: BaseContract, caller: Deployment["outsider"], errors: string[]) {
  const guarded: string[] = [];
  for (const fragment of contract.interface.fragments) {
    if (fragment.type !== "function") continue;
    const fn = fragment as unknown as { name: string; stateMutability: string; inputs: ParamType[]; format(): string };
    if (fn.stateMutability === "view" || fn.stateMutability === "pure") continue;
    const data = contract.interface.encodeFunctionData(fn.format(), fn.inputs.map(zeroOf));
    try {
      await caller.call({ to: contract.target as string, data });
    } catch (error) {
      let data = (error as { data?: unknown }).data;
      if (data && typeof data === "object") data = (data as { data?: unknown }).data;
      const revert = typeof data === "string" && data.length >= 10 ? contract.interface.parseError(data) : null;
      if (revert && errors.includes(revert.name)) guarded.push(fn.name);
    }
  }
  return guarded.sort();
}

describe("Security: the review's attacks are blocked", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  describe("issue 9.1: nobody but the market can lock, slash or freeze a stake", function () {
    it("the deployer cannot lock or slash a provider's free stake, nor grant itself a role", async function () {
      const [deployer] = await ethers.getSigners();
      const victim = d.providers[0];
      // The attack of the review: become the market, lock the whole free stake, slash it to oneself.
      await expect(d.registry.connect(deployer).lockCollateral(victim.address, STAKE, 0))
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotMarket")
        .withArgs(deployer.address);
      await expect(
        d.registry.connect(deployer).applyOutcomes([
          { provider: victim.address, unlock: 0, slash: STAKE, accepted: 0, rejected: 0, expired: 0, abandoned: 0 },
        ]),
      ).to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotMarket");
      // There is no role machinery left to abuse: AccessControl's grantRole/revokeRole do not exist.
      const grantRole = new ethers.Interface(["function grantRole(bytes32,address)", "function revokeRole(bytes32,address)"]);
      for (const call of ["grantRole", "revokeRole"]) {
        const data = grantRole.encodeFunctionData(call, [ethers.ZeroHash, deployer.address]);
        await expect(deployer.sendTransaction({ to: d.registry.target, data })).to.revert(ethers);
      }
      expect(await d.registry.market()).to.equal(d.market.target);
      expect((await d.registry.providerOf(victim.address)).staked).to.equal(STAKE);
      expect(await d.registry.freeStake(victim.address)).to.equal(STAKE);
    });

    it("the registry has no admin: no function is guarded by anything but being the market", async function () {
      const [deployer] = await ethers.getSigners();
      const roleErrors = ["ProviderRegistryNotMarket", "AccessControlUnauthorizedAccount", "OwnableUnauthorizedAccount"];
      for (const caller of [deployer, d.outsider]) {
        expect(await guardedFunctions(d.registry, caller, roleErrors)).to.deep.equal(["applyOutcomes", "lockCollateral"]);
      }
    });

    it("the market's admin powers are exactly: scheduling a fee, treasury, two-step ownership transfer and renouncement", async function () {
      // Every state-changing function an outsider is refused for not being the owner (or the
      // pending owner); the README's security notes list the same.
      expect(await guardedFunctions(d.market, d.outsider, ["OwnableUnauthorizedAccount"])).to.deep.equal([
        "acceptOwnership",
        "renounceOwnership",
        "scheduleFee",
        "setTreasury",
        "transferOwnership",
      ]);
      // The owner calling them moves no escrow, balance or stake.
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      const [slot] = await claim(d, d.providers[0], jobId, 1);
      await d.market.connect(d.admin).scheduleFee(1_000);
      await d.market.connect(d.admin).setTreasury(d.admin.address);
      await d.market.connect(d.admin).transferOwnership(d.outsider.address);
      await d.market.connect(d.outsider).acceptOwnership();
      expect(await d.market.owner()).to.equal(d.outsider.address);
      expect((await d.market.jobOf(jobId)).escrow).to.equal(unitPrice());
      expect((await d.market.jobOf(jobId)).feeBps).to.equal(100);
      expect((await d.registry.providerOf(d.providers[0].address)).locked).to.equal(COLLATERAL);
      await revealAll(d, d.providers[0], jobId, [slot]);
      expect(await d.market.balanceOf(d.providers[0].address)).to.equal(REWARD);
      await d.market.connect(d.outsider).renounceOwnership();
      await expect(d.market.connect(d.outsider).scheduleFee(0)).to.be.revertedWithCustomError(d.market, "OwnableUnauthorizedAccount");
      await expectConservation(d);
    });
  });

  describe("issue 9.2: two replicas missing one reveal window are both slashed", function () {
    /** r = 3, q = 2: A reveals, B and C commit and stay silent past the reveal window. */
    async function twoMissReveal() {
      const [a, b, c] = d.providers;
      const jobId = await postJob(d, { segmentCount: 1, redundancy: 3, quorum: 2 });
      const slots = new Map<typeof a, Slot>();
      for (const p of [a, b, c]) slots.set(p, (await claim(d, p, jobId, 1))[0]);
      for (const p of [a, b, c]) await commitAll(d, p, jobId, [slots.get(p)!]);
      await revealAll(d, a, jobId, [slots.get(a)!]);
      await networkHelpers.time.increase(REVEAL_WINDOW + 1);
      return { jobId, a, b, c, slots };
    }

    it("expire([B, C]) slashes both, and honest A is paid once replacements agree", async function () {
      const { jobId, a, b, c, slots } = await twoMissReveal();
      const tx = await d.market.connect(d.keeper).expire(jobId, [slots.get(b)!, slots.get(c)!]);
      const expired = await eventsOf(d, tx, "ReplicaExpired");
      expect(expired.map((e) => e.args.provider).sort()).to.deep.equal([b.address, c.address].sort());
      for (const p of [b, c]) expect((await d.registry.providerOf(p.address)).staked).to.equal(STAKE - COLLATERAL);
      expect(await d.market.balanceOf(d.keeper.address)).to.equal(2n * KEEPER_FEE);
      const [r1, r2] = [d.providers[3], d.providers[4]];
      const s1 = (await claim(d, r1, jobId, 1))[0];
      const s2 = (await claim(d, r2, jobId, 1))[0];
      await commitAll(d, r1, jobId, [s1]);
      await commitAll(d, r2, jobId, [s2]);
      await expect(revealAll(d, r1, jobId, [s1])).to.emit(d.market, "SegmentAccepted");
      await revealAll(d, r2, jobId, [s2]);
      expect((await d.market.segmentOf(jobId, 0)).status).to.equal(SegmentStatus.Accepted);
      expect(await d.market.balanceOf(a.address)).to.equal(REWARD);
      await expectConservation(d);
    });

    it("expire([B]) alone expires C too: C cannot escape to an unslashed release at close", async function () {
      const { jobId, b, c, slots } = await twoMissReveal();
      const tx = await d.market.connect(d.keeper).expire(jobId, [slots.get(b)!]);
      expect((await eventsOf(d, tx, "ReplicaExpired")).length).to.equal(2);
      expect((await d.registry.providerOf(c.address)).staked).to.equal(STAKE - COLLATERAL);
      expect((await d.registry.providerOf(c.address)).locked).to.equal(0n);
      // Listing C afterwards: its slot is empty now, so it is (correctly) not expirable any more.
      await expect(d.market.connect(d.keeper).expire(jobId, [slots.get(c)!])).to.be.revertedWithCustomError(
        d.market,
        "JobMarketNotExpirable",
      );
      await expectConservation(d);
    });
  });

  describe("issue 9.5: a claim costs the same on a job of any size", function () {
    async function claimGas(jobId: bigint) {
      // A claim is the request and its resolution a block later.
      const request = await (await d.market.connect(d.providers[0]).requestClaim(jobId, 1)).wait();
      const tx = await d.market.connect(d.providers[0]).resolveClaims(jobId);
      const receipt = await tx.wait();
      const [event] = await eventsOf(d, tx, "ReplicasClaimed");
      return { gas: request!.gasUsed + receipt!.gasUsed, segment: Number((event.args.slots as bigint[])[0] >> 8n) };
    }

    it("claim(1) on a 1,000,000-segment job whose only open segment is the last costs <= 1.2x a fresh 1-segment job", async function () {
      const fresh = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1 });
      const freshClaim = await claimGas(fresh);
      expect(freshClaim.segment).to.equal(0);
      const huge = await postJob(d, { segmentCount: 1_000_000, redundancy: 1, quorum: 1, rewardPerReplica: 1n, collateralPerReplica: 1n });
      await closeAllBut(networkHelpers, d.market.target as string, huge, 1_000_000, [999_999]);
      const hugeClaim = await claimGas(huge);
      expect(hugeClaim.segment).to.equal(999_999);
      // Before the summary levels this scanned 3,907 bitmap words: 11.1M gas.
      expect(Number(hugeClaim.gas) / Number(freshClaim.gas)).to.be.lessThanOrEqual(1.2);
      // A fruitless claim is as cheap: nothing is open any more.
      const request = await (await d.market.connect(d.providers[1]).requestClaim(huge, 1)).wait();
      const resolution = await d.market.connect(d.providers[1]).resolveClaims(huge);
      const [lapsed] = await eventsOf(d, resolution, "ClaimLapsed");
      expect(lapsed.args.unfilled).to.equal(1n);
      const fruitless = request!.gasUsed + (await resolution.wait())!.gasUsed;
      expect(Number(fruitless) / Number(freshClaim.gas)).to.be.lessThanOrEqual(1.2);
    });

    it("keeps the summary levels exact as a group fills and empties (claim, abandon, re-claim)", async function () {
      // 70,000 segments: two groups of 256 words. Only segment 5 is open.
      const jobId = await postJob(d, { segmentCount: 70_000, redundancy: 1, quorum: 1, rewardPerReplica: 1n, collateralPerReplica: 1n });
      await closeAllBut(networkHelpers, d.market.target as string, jobId, 70_000, [5]);
      const slots = bitmapSlots(jobId, 0);
      const read = async (slot: bigint) => BigInt(await ethers.provider.getStorage(d.market.target, slot));
      const ALL = (1n << 256n) - 1n;
      expect(await read(slots.fullGroups)).to.equal(0n); // group 0 is not full: word 0 has segment 5 open
      const [slot] = await claim(d, d.providers[0], jobId, 1);
      expect(slot.segment).to.equal(5);
      expect(await read(slots.closed)).to.equal(ALL);
      expect(await read(slots.fullWords)).to.equal(ALL);
      expect(await read(slots.fullGroups)).to.equal(1n); // group 1 holds the job's last, partial word: never full
      expect(await claim(d, d.providers[1], jobId, 1)).to.deep.equal([]);
      await d.market.connect(d.providers[0]).abandon(jobId, [slot], 0, "");
      expect(await read(slots.fullGroups)).to.equal(0n);
      expect(await read(slots.fullWords)).to.equal(ALL ^ 1n);
      expect(await read(slots.closed)).to.equal(ALL ^ (1n << 5n));
      expect((await claim(d, d.providers[1], jobId, 1))[0].segment).to.equal(5);
    });
  });

  describe("issue 9.6: fee-on-transfer tokens are refused", function () {
    /** A market over a token that burns 1 % of every transfer, deployed without the module's check. */
    async function feeTokenMarket() {
      const [deployer] = await ethers.getSigners();
      const FeeToken = await ethers.getContractFactory("FeeOnTransferToken");
      const token = await FeeToken.deploy(10n ** 30n, deployer.address);
      const Market = await ethers.getContractFactory("JobMarket");
      const market = await Market.deploy(token.target, 3600, deployer.address, deployer.address, 100, 30, 30, 0, await extensionBlueprint());
      const registry = await ethers.getContractAt("ProviderRegistry", await market.registry());
      return { deployer, token, market, registry };
    }

    it("the registry refuses a stake that arrives short (was: 4,950 held for 5,000 staked)", async function () {
      const { deployer, token, registry } = await feeTokenMarket();
      await registry.register("bafyprofile");
      await token.approve(registry.target, ethers.MaxUint256);
      await expect(registry.stake(5_000n))
        .to.be.revertedWithCustomError(registry, "ProviderRegistryTransferShortfall")
        .withArgs(5_000n, 4_950n);
      expect(await registry.totalStaked()).to.equal(0n);
      expect(await token.balanceOf(registry.target)).to.equal(0n);
      expect((await registry.providerOf(deployer.address)).staked).to.equal(0n);
    });

    it("the market refuses an escrow that arrives short", async function () {
      const { token, market } = await feeTokenMarket();
      await token.approve(market.target, ethers.MaxUint256);
      const params = await jobParams({ segmentCount: 1, redundancy: 1, quorum: 1, rewardPerReplica: 10_000n, collateralPerReplica: 10_000n });
      await expect(market.createJob(params))
        .to.be.revertedWithCustomError(market, "JobMarketTransferShortfall")
        .withArgs(10_100n, 9_999n);
      expect(await market.totalEscrow()).to.equal(0n);
    });

    it("the TessellateWithToken deployment checks the token first and stops before deploying the market", async function () {
      const [deployer] = await ethers.getSigners();
      const FeeToken = await ethers.getContractFactory("FeeOnTransferToken");
      const bad = await FeeToken.deploy(10n ** 30n, deployer.address);
      const marketsBefore = await ethers.provider.getTransactionCount(deployer.address);
      const refused = await ignition
        .deploy(TessellateWithTokenModule, { parameters: { TessellateWithToken: { token: bad.target as string } } })
        .then(() => "deployed", (error: Error) => String(error));
      expect(refused).to.match(/TokenProbeNotPlain/);
      // Only the probe and its approval went out; no JobMarket was deployed.
      expect(await ethers.provider.getTransactionCount(deployer.address)).to.be.lessThanOrEqual(marketsBefore + 3);
      // A plain token passes, and the deployer gets its probe amount back.
      const balance = await d.token.balanceOf(deployer.address);
      const ok = await ignition.deploy(TessellateWithTokenModule, { parameters: { TessellateWithToken: { token: d.token.target as string } } });
      expect(await ok.market.token()).to.equal(d.token.target);
      expect(await ok.registry.market()).to.equal(ok.market.target);
      expect(await d.token.balanceOf(deployer.address)).to.equal(balance);
    });
  });

  describe("issue 9.10: the minimum lease and reveal window are deployment parameters", function () {
    it("a deployment with the module's defaults refuses 30 s windows (600 s minimums)", async function () {
      const deployed = await ignition.deploy(TessellateModule);
      const market = await ethers.getContractAt("JobMarket", deployed.market.target as string);
      expect(await market.minLease()).to.equal(600);
      expect(await market.minRevealWindow()).to.equal(600);
      await d.token.connect(d.requester).approve(market.target, ethers.MaxUint256);
      await expect(market.connect(d.requester).createJob(await jobParams({ leaseDuration: 30, revealWindow: 600 })))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidLease")
        .withArgs(30, 600, 7 * 86_400);
      await expect(market.connect(d.requester).createJob(await jobParams({ leaseDuration: 600, revealWindow: 30 })))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidRevealWindow")
        .withArgs(30, 600, 7 * 86_400);
      // The test fixture (like the devnet) deploys with 30 s minimums.
      expect(await d.market.minLease()).to.equal(30);
    });

    it("refuses minimums below the 30 s floor or above the maxima at construction", async function () {
      const Market = await ethers.getContractFactory("JobMarket");
      const a = d.admin.address;
      await expect(Market.deploy(d.token.target, 3600, a, a, 100, 29, 600, 0, await extensionBlueprint()))
        .to.be.revertedWithCustomError(Market, "JobMarketInvalidTimingMinimum")
        .withArgs(29, 30, 7 * 86_400);
      await expect(Market.deploy(d.token.target, 3600, a, a, 100, 600, 7 * 86_400 + 1, 0, await extensionBlueprint()))
        .to.be.revertedWithCustomError(Market, "JobMarketInvalidTimingMinimum")
        .withArgs(7 * 86_400 + 1, 30, 7 * 86_400);
    });
  });

  describe("issue 9.7: the fee cannot be raised in front of a new job", function () {
    it("a job carries the highest fee its requester accepts, and a fee change waits FEE_DELAY", async function () {
      // The attack: the owner raises the fee from 1 % to 10 % just before the requester's createJob.
      await expect(d.market.connect(d.admin).scheduleFee(1_000)).to.emit(d.market, "FeeScheduled");
      const [pending, effectiveAt] = await d.market.pendingFee();
      expect(pending).to.equal(1_000);
      expect(effectiveAt).to.equal(BigInt(await networkHelpers.time.latest()) + BigInt(jobMarketConstants.FEE_DELAY));
      await expect(d.market.applyFee()).to.be.revertedWithCustomError(d.market, "JobMarketFeeNotDue").withArgs(effectiveAt);
      // Until the delay has passed the job is charged the fee its requester saw.
      const early = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, maxFeeBps: 100 });
      expect((await d.market.jobOf(early)).feeBps).to.equal(100);
      await networkHelpers.time.increaseTo(effectiveAt);
      await expect(d.market.connect(d.outsider).applyFee()).to.emit(d.market, "FeeChanged").withArgs(1_000);
      expect(await d.market.feeBps()).to.equal(1_000);
      expect(await d.market.pendingFee()).to.deep.equal([0n, 0n]);
      await expect(d.market.applyFee()).to.be.revertedWithCustomError(d.market, "JobMarketNoFeeScheduled");
      // After it, a requester who accepted at most 1 % is refused rather than charged 10 %.
      await expect(postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, maxFeeBps: 100 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketFeeAboveMax")
        .withArgs(1_000, 100);
      const later = await postJob(d, { segmentCount: 1, redundancy: 1, quorum: 1, maxFeeBps: 1_000 });
      expect((await d.market.jobOf(later)).escrow).to.equal(REWARD + REWARD / 10n);
      await expectConservation(d);
    });
  });
});
