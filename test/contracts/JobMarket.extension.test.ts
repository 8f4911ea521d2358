import { expect } from "chai";
import { type Deployment, claim, deployFixture, ethers, networkHelpers, postJob } from "./helpers/driver.ts";

/** EIP-170's limit on a contract's runtime code. */
const MAX_CODE_SIZE = 24_576;

/**
 * JobMarket is two codes over one storage (see contracts/JobMarketBase.sol): the lifecycle and
 * admin paths run in JobMarketExtension by delegatecall. These tests pin what that split must keep:
 * both codes fit EIP-170, the extension is the one JobMarket deployed, and nobody gains anything by
 * calling the extension directly.
 */
describe("JobMarket extension (delegatecall split)", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  /** JobMarket's constructor creates the registry (nonce 1), then the extension (nonce 2). */
  async function extensionOf(d: Deployment) {
    const address = ethers.getCreateAddress({ from: await d.market.getAddress(), nonce: 2 });
    return ethers.getContractAt("JobMarketExtension", address);
  }

  it("both codes fit EIP-170", async function () {
    const market = (await ethers.provider.getCode(await d.market.getAddress())).length / 2 - 1;
    const extension = (await ethers.provider.getCode(await (await extensionOf(d)).getAddress())).length / 2 - 1;
    console.log(`      JobMarket ${market} bytes, JobMarketExtension ${extension} bytes (limit ${MAX_CODE_SIZE})`);
    expect(market).to.be.greaterThan(0).and.at.most(MAX_CODE_SIZE);
    expect(extension).to.be.greaterThan(0).and.at.most(MAX_CODE_SIZE);
  });

  it("runs on the market's storage: a cancel through the market refunds from the market's escrow", async function () {
    const jobId = await postJob(d);
    const escrowBefore = await d.market.totalEscrow();
    await expect(d.market.connect(d.requester).cancelJob(jobId)).to.emit(d.market, "JobCancelled");
    expect(await d.market.totalEscrow()).to.be.lessThan(escrowBefore);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(escrowBefore - (await d.market.totalEscrow()));
  });

  it("attack: calling the extension directly touches none of the market's jobs, escrow or settings", async function () {
    const jobId = await postJob(d);
    const [slot] = await claim(d, d.providers[0], jobId, 1);
    const extension = await extensionOf(d);
    const escrow = await d.market.totalEscrow();
    // The requester, the provider and the admin each try their verbs on the extension itself.
    await expect(extension.connect(d.requester).cancelJob(jobId)).to.be.revertedWithCustomError(extension, "JobMarketUnknownJob");
    await expect(extension.connect(d.requester).closeSegments(jobId, [0])).to.be.revertedWithCustomError(
      extension,
      "JobMarketUnknownJob",
    );
    await expect(
      extension.connect(d.providers[0]).abandon(jobId, [slot], 0, ""),
    ).to.be.revertedWithCustomError(extension, "JobMarketUnknownJob");
    await expect(extension.connect(d.keeper).expire(jobId, [slot])).to.be.revertedWithCustomError(extension, "JobMarketUnknownJob");
    // An admin call on the extension changes only the extension's own (unused) storage.
    await extension.connect(d.admin).scheduleFee(500);
    expect((await d.market.pendingFee())[1]).to.equal(0n);
    expect(await d.market.totalEscrow()).to.equal(escrow);
    expect((await d.market.jobOf(jobId)).status).to.equal(1n);
    expect(await ethers.provider.getBalance(await extension.getAddress())).to.equal(0n);
    expect(await d.token.balanceOf(await extension.getAddress())).to.equal(0n);
  });

  it("the market's admin checks still apply through the delegatecall", async function () {
    await expect(d.market.connect(d.outsider).scheduleFee(500)).to.be.revertedWithCustomError(d.market, "OwnableUnauthorizedAccount");
    await expect(d.market.connect(d.admin).scheduleFee(500)).to.emit(d.market, "FeeScheduled");
    expect((await d.market.pendingFee())[0]).to.equal(500n);
  });
});
