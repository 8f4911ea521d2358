import { expect } from "chai";
import { type Deployment, claim, deployFixture, ethers, networkHelpers, postJob } from "./helpers/driver.ts";

/** EIP-170's limit on a contract's runtime code, EIP-3860's on creation code. */
const MAX_CODE_SIZE = 24_576;
const MAX_INITCODE_SIZE = 49_152;

/** Creation code that deploys `runtime` as a contract's code, whatever its bytes. */
function deployingCode(runtime: string): string {
  const size = (runtime.length - 2) / 2;
  const length = size.toString(16).padStart(4, "0");
  // PUSH2 size, DUP1, PUSH1 12 (this prefix's length), PUSH1 0, CODECOPY, PUSH1 0, RETURN
  return `0x61${length}80600c6000396000f3${runtime.slice(2)}`;
}

/** Deploys a contract whose code is exactly `runtime`. */
async function deployRaw(runtime: string): Promise<string> {
  const [deployer] = await ethers.getSigners();
  const tx = await deployer.sendTransaction({ data: deployingCode(runtime) });
  const receipt = await tx.wait();
  return receipt!.contractAddress!;
}

/**
 * JobMarket is two codes over one storage (see contracts/JobMarketBase.sol): the lifecycle and
 * admin paths run in JobMarketExtension by delegatecall. These tests pin what that split must keep:
 * both codes fit EIP-170 and JobMarket's creation code EIP-3860, the extension is the one JobMarket
 * deployed from code its own source fixes, and nobody gains anything by calling the extension directly.
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

  it("JobMarket's creation code fits EIP-3860: the extension's comes from its blueprint, not from JobMarket's", async function () {
    const market = (await ethers.getContractFactory("JobMarket")).bytecode;
    const extension = (await ethers.getContractFactory("JobMarketExtension")).bytecode;
    const size = (market.length - 2) / 2;
    console.log(`      JobMarket creation code ${size} bytes (limit ${MAX_INITCODE_SIZE}); the extension's ${(extension.length - 2) / 2} are not in it`);
    expect(size).to.be.at.most(MAX_INITCODE_SIZE);
    expect(market.includes(extension.slice(2, 2 + 2 * 4096)), "JobMarket embeds the extension's creation code").to.equal(false);
  });

  it("attack (deployer): a market cannot be deployed with other extension code than its source names", async function () {
    const Market = await ethers.getContractFactory("JobMarket");
    const a = d.admin.address;
    const genuine = (await ethers.getContractFactory("JobMarketExtension")).bytecode.slice(2);
    const half = 2 * Math.floor(genuine.length / 4); // hex characters of the first part (JobMarketExtensionBlueprint)
    const part = async (hex: string) => deployRaw(`0xfe${hex}`);
    const [first, second] = [await part(genuine.slice(0, half)), await part(genuine.slice(half))];
    // A doctored extension: the genuine creation code with its last byte changed (any backdoor would do).
    const doctored = await part(`${genuine.slice(half, -2)}${genuine.slice(-2) === "00" ? "01" : "00"}`);
    const cases: Record<string, [string, string]> = {
      "a doctored extension": [first, doctored],
      "the parts swapped": [second, first],
      "an account with no code": [first, d.outsider.address],
    };
    for (const [what, parts] of Object.entries(cases)) {
      await expect(Market.deploy(d.token.target, 3600, a, a, 100, 30, 30, 0, parts), what).to.be.revertedWithCustomError(
        Market,
        "JobMarketInvalidExtensionBlueprint",
      );
    }
    // The genuine parts deploy, and a part itself cannot be called (its code starts with INVALID).
    const market = await Market.deploy(d.token.target, 3600, a, a, 100, 30, 30, 0, [first, second]);
    expect(await market.minLease()).to.equal(30);
    await expect(d.outsider.sendTransaction({ to: first, data: "0x" })).to.be.revertedWithoutReason(ethers);
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
