import { expect } from "chai";
import { network } from "hardhat";
import TessellateModule from "../../ignition/modules/Tessellate.ts";

const { ethers, ignition } = await network.create();

describe("Ignition deployment", function () {
  it("deploys token and market; the market's own registry takes it as its only market", async function () {
    const { token, registry, market } = await ignition.deploy(TessellateModule);
    expect(await market.token()).to.equal(await token.getAddress());
    expect(await market.registry()).to.equal(await registry.getAddress());
    expect(await registry.market()).to.equal(await market.getAddress());
    expect(await registry.token()).to.equal(await token.getAddress());
    const [deployer] = await ethers.getSigners();
    expect(await token.balanceOf(deployer.address)).to.equal(1_000_000_000n * 10n ** 18n);
  });
});
