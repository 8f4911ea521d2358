import { expect } from "chai";
import { network } from "hardhat";
import TessellateModule from "../../ignition/modules/Tessellate.ts";

const { ethers, ignition } = await network.create();

describe("Ignition deployment", function () {
  it("deploys token, registry and market and grants the market its role", async function () {
    const { token, registry, market } = await ignition.deploy(TessellateModule);
    expect(await market.token()).to.equal(await token.getAddress());
    expect(await market.registry()).to.equal(await registry.getAddress());
    const role = await registry.MARKET_ROLE();
    expect(await registry.hasRole(role, await market.getAddress())).to.equal(true);
    const [deployer] = await ethers.getSigners();
    expect(await token.balanceOf(deployer.address)).to.equal(1_000_000_000n * 10n ** 18n);
  });
});
