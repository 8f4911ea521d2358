import { expect } from "chai";
import {
  STAKE,
  UNIT,
  type Deployment,
  deployFixture,
  ethers,
  networkHelpers,
} from "./helpers/driver.ts";

describe("ProviderRegistry", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("registers with a profile CID, once, and publishes profile updates", async function () {
    const newcomer = d.outsider;
    await expect(d.registry.connect(newcomer).register(""))
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryEmptyProfile");
    await expect(d.registry.connect(newcomer).register("bafyprofile"))
      .to.emit(d.registry, "ProviderRegistered")
      .withArgs(newcomer.address, "bafyprofile");
    await expect(d.registry.connect(newcomer).register("bafyprofile"))
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryAlreadyRegistered")
      .withArgs(newcomer.address);
    await expect(d.registry.connect(newcomer).updateProfile("bafyprofile2"))
      .to.emit(d.registry, "ProfileUpdated")
      .withArgs(newcomer.address, "bafyprofile2");
    await expect(d.registry.connect(newcomer).updateProfile("")).to.be.revertedWithCustomError(
      d.registry,
      "ProviderRegistryEmptyProfile",
    );
    await expect(d.registry.connect(d.keeper).updateProfile("x"))
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotRegistered")
      .withArgs(d.keeper.address);
  });

  it("starts a newcomer at a reputation of 5000", async function () {
    expect(await d.registry.reputation(d.providers[0].address)).to.equal(5000);
    expect((await d.registry.providerOf(d.providers[0].address)).score).to.equal(5000);
  });

  it("stakes, requests an unstake, and withdraws only after the unbonding delay", async function () {
    const p = d.providers[0];
    await expect(d.registry.connect(p).stake(0)).to.be.revertedWithCustomError(d.registry, "ProviderRegistryZeroAmount");
    await expect(d.registry.connect(d.outsider).stake(1)).to.be.revertedWithCustomError(
      d.registry,
      "ProviderRegistryNotRegistered",
    );
    await expect(d.registry.connect(p).stake(UNIT)).to.emit(d.registry, "Staked").withArgs(p.address, UNIT, STAKE + UNIT);
    await expect(d.registry.connect(p).withdrawStake())
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNothingUnbonding")
      .withArgs(p.address);
    await expect(d.registry.connect(p).requestUnstake(0)).to.be.revertedWithCustomError(
      d.registry,
      "ProviderRegistryZeroAmount",
    );
    await d.registry.connect(p).requestUnstake(UNIT);
    expect(await d.registry.freeStake(p.address)).to.equal(STAKE);
    const readyAt = (await d.registry.providerOf(p.address)).unbondingReadyAt;
    await expect(d.registry.connect(p).withdrawStake())
      .to.be.revertedWithCustomError(d.registry, "ProviderRegistryUnbondingNotReady")
      .withArgs(p.address, readyAt);
    await networkHelpers.time.increaseTo(readyAt);
    const before = await d.token.balanceOf(p.address);
    await expect(d.registry.connect(p).withdrawStake()).to.emit(d.registry, "StakeWithdrawn").withArgs(p.address, UNIT, STAKE);
    expect(await d.token.balanceOf(p.address)).to.equal(before + UNIT);
    expect(await d.token.balanceOf(d.registry.target)).to.equal(await d.registry.totalStaked());
  });

  it("restarts the unbonding delay when a second unstake is requested", async function () {
    const p = d.providers[0];
    await d.registry.connect(p).requestUnstake(UNIT);
    const first = (await d.registry.providerOf(p.address)).unbondingReadyAt;
    await networkHelpers.time.increase(1800);
    await d.registry.connect(p).requestUnstake(UNIT);
    const record = await d.registry.providerOf(p.address);
    expect(record.unbonding).to.equal(2n * UNIT);
    expect(record.unbondingReadyAt).to.be.greaterThan(first);
  });

  it("lets only the market lock, unlock, slash and record outcomes", async function () {
    const p = d.providers[0];
    expect(await d.registry.market()).to.equal(d.market.target);
    for (const caller of [d.outsider, d.admin]) {
      await expect(d.registry.connect(caller).lockCollateral(p.address, 1, 0))
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotMarket")
        .withArgs(caller.address);
      await expect(
        d.registry.connect(caller).applyOutcomes([
          { provider: p.address, unlock: 0, slash: 1, accepted: 0, rejected: 0, expired: 0, abandoned: 0 },
        ]),
      )
        .to.be.revertedWithCustomError(d.registry, "ProviderRegistryNotMarket")
        .withArgs(caller.address);
    }
  });

  /** A registry deployed by `d.admin`, which therefore stands in for its market; `p` staked STAKE. */
  async function standaloneRegistry() {
    const Registry = await ethers.getContractFactory("ProviderRegistry", d.admin);
    const registry = await Registry.deploy(d.token.target, 3600);
    const p = d.providers[0];
    await registry.connect(p).register("bafyprofile");
    await d.token.connect(p).approve(registry.target, ethers.MaxUint256);
    await registry.connect(p).stake(STAKE);
    expect(await registry.market()).to.equal(d.admin.address);
    return { registry, p };
  }

  it("applies outcomes: unlock, slash to the caller, counters and the documented score formula", async function () {
    const { registry, p } = await standaloneRegistry();
    await registry.connect(d.admin).lockCollateral(p.address, 30n * UNIT, 0);
    await expect(
      registry.connect(d.admin).applyOutcomes([
        { provider: p.address, unlock: 31n * UNIT, slash: 0, accepted: 0, rejected: 0, expired: 0, abandoned: 0 },
      ]),
    )
      .to.be.revertedWithCustomError(registry, "ProviderRegistryInsufficientLocked")
      .withArgs(p.address, 30n * UNIT, 31n * UNIT);
    const before = await d.token.balanceOf(d.admin.address);
    await expect(
      registry.connect(d.admin).applyOutcomes([
        { provider: p.address, unlock: 10n * UNIT, slash: 20n * UNIT, accepted: 6, rejected: 1, expired: 1, abandoned: 2 },
      ]),
    )
      .to.emit(registry, "StakeSlashed")
      .withArgs(p.address, 20n * UNIT, STAKE - 20n * UNIT);
    expect(await d.token.balanceOf(d.admin.address)).to.equal(before + 20n * UNIT);
    const record = await registry.providerOf(p.address);
    expect(record.locked).to.equal(0n);
    // (6 + 2) * 10000 / (6 + 4 + 4*1 + 2*1 + 2) = 80000 / 18 = 4444
    expect(record.score).to.equal(4444);
    expect(await d.token.balanceOf(registry.target)).to.equal(await registry.totalStaked());
  });

  it("approaches but never exceeds 10000 with many accepted replicas", async function () {
    const { registry, p } = await standaloneRegistry();
    await registry.connect(d.admin).applyOutcomes([
      { provider: p.address, unlock: 0, slash: 0, accepted: 4_000_000_000, rejected: 0, expired: 0, abandoned: 0 },
    ]);
    const score = await registry.reputation(p.address);
    expect(score).to.be.lessThanOrEqual(10_000);
    expect(score).to.be.greaterThanOrEqual(9_999);
  });

  it("rejects a bad configuration and a stake beyond 128 bits", async function () {
    const Registry = await ethers.getContractFactory("ProviderRegistry");
    await expect(Registry.deploy(d.token.target, 60)).to.be.revertedWithCustomError(
      Registry,
      "ProviderRegistryInvalidConfig",
    );
    await expect(Registry.deploy(ethers.ZeroAddress, 3600)).to.be.revertedWithCustomError(
      Registry,
      "ProviderRegistryInvalidConfig",
    );
    const Token = await ethers.getContractFactory("RenderToken");
    const huge = await Token.deploy(2n ** 129n, d.admin.address);
    const registry = await Registry.deploy(huge.target, 3600);
    await registry.register("bafy");
    await huge.approve(registry.target, ethers.MaxUint256);
    await registry.stake(2n ** 128n - 1n);
    await expect(registry.stake(1)).to.be.revertedWithCustomError(registry, "ProviderRegistryStakeOverflow");
  });
});
