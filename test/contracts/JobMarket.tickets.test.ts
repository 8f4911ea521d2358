/**
 * Claim tickets (issue 10 property 1): a request locks collateral and queues a ticket seeded by its
 * block; the ticket resolves in a later block, first-in first-out, in `resolveClaims` or in passing.
 * These tests pin what a claimer can no longer choose: the creation block, where a due ticket lands
 * (not by who resolves it, when, or what an accomplice does first), and a lapse for free.
 */
import { expect } from "chai";
import { COLLATERAL, STAKE, type Deployment, claim, deployFixture, ethers, eventsOf, expectConservation, networkHelpers, postJob } from "./helpers/driver.ts";
import { unpackSlots } from "../../sdk/src/protocol/slots.ts";

describe("Claim tickets (issue 10.1)", function () {
  let d: Deployment;
  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("no request in the job's creation block (was: the requester claimed every segment in the transaction after createJob)", async function () {
    const params = { manifestCid: "bafymanifest", segmentCount: 4, redundancy: 2, quorum: 2, rewardPerReplica: 10n ** 19n, collateralPerReplica: COLLATERAL, leaseDuration: 600, revealWindow: 300, deadline: (await networkHelpers.time.latest()) + 86_400, minReputation: 0, maxFeeBps: 1_000, verification: 0, toleranceBps: 0 };
    const jobId = (await d.market.jobCount()) + 1n;
    await ethers.provider.send("evm_setAutomine", [false]);
    try {
      const create = await d.market.connect(d.requester).createJob(params, { gasLimit: 1_000_000 });
      const request = await d.market.connect(d.providers[0]).requestClaim(jobId, 4, { gasLimit: 1_000_000 });
      await ethers.provider.send("evm_mine", []);
      expect((await create.wait())!.status).to.equal(1);
      const receipt = await ethers.provider.getTransactionReceipt(request.hash);
      expect(receipt!.status, "the request in the creation block reverted (JobMarketTooEarly)").to.equal(0);
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    await expect(d.market.connect(d.providers[0]).requestClaim(jobId, 4)).to.emit(d.market, "ClaimRequested");
  });

  it("a ticket is not due in its own block: resolving it there assigns nothing, the next block does", async function () {
    const jobId = await postJob(d);
    await ethers.provider.send("evm_setAutomine", [false]);
    try {
      await d.market.connect(d.providers[0]).requestClaim(jobId, 2, { gasLimit: 1_000_000 });
      const early = await d.market.connect(d.keeper).resolveClaims(jobId, { gasLimit: 1_000_000 });
      await ethers.provider.send("evm_mine", []);
      expect(await eventsOf(d, early, "ReplicasClaimed")).to.deep.equal([]);
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    const [, , waiting] = await d.market.claimQueueOf(jobId);
    expect(waiting.map((t) => [t.provider, Number(t.count)])).to.deep.equal([[d.providers[0].address, 2]]);
    const tx = await d.market.connect(d.keeper).resolveClaims(jobId);
    const [event] = await eventsOf(d, tx, "ReplicasClaimed");
    expect(event.args.provider).to.equal(d.providers[0].address);
    expect(unpackSlots(event.args.slots)).to.have.length(2);
  });

  it("ATTACK re-roll by timing or by an accomplice: a due ticket lands the same whoever resolves it, however late, and after an accomplice's give-back", async function () {
    const [claimer, accomplice] = d.providers;
    const jobId = await postJob(d, { segmentCount: 16, redundancy: 2, quorum: 2 });
    const [held] = await claim(d, accomplice, jobId, 1);
    await d.market.connect(claimer).requestClaim(jobId, 1);
    const start = await networkHelpers.takeSnapshot();
    const landing = async (before: () => Promise<unknown>) => {
      await start.restore();
      await before();
      await d.market.connect(d.keeper).resolveClaims(jobId);
      const slots: string[] = [];
      for (let s = 0; s < 16; s++) for (let k = 0; k < 2; k++) if ((await d.market.replicaOf(jobId, s, k)).provider === claimer.address) slots.push(`${s}/${k}`);
      return slots;
    };
    const atOnce = await landing(async () => undefined);
    expect(atOnce).to.have.length(1);
    expect(await landing(() => networkHelpers.mine(20)), "20 blocks later").to.deep.equal(atOnce);
    expect(await landing(() => d.market.connect(claimer).resolveClaims(jobId)), "resolved by the claimer").to.deep.equal(atOnce);
    // The accomplice's give-back would reopen its segment, but it resolves the due ticket first.
    expect(await landing(() => d.market.connect(accomplice).abandon(jobId, [held], 0, "")), "after a give-back").to.deep.equal(atOnce);
  });

  it("a ticket nobody resolves for 256 blocks lapses and forfeits half its collateral to the requester; the books balance", async function () {
    const [p] = d.providers;
    const jobId = await postJob(d);
    await d.market.connect(p).requestClaim(jobId, 2);
    expect(await d.registry.freeStake(p.address)).to.equal(STAKE - 2n * COLLATERAL);
    await networkHelpers.mine(257);
    const tx = await d.market.connect(d.keeper).resolveClaims(jobId);
    const forfeit = COLLATERAL; // 50 % of 2 collaterals
    await expect(tx).to.emit(d.market, "ClaimLapsed").withArgs(jobId, p.address, 2, forfeit);
    expect((await d.registry.providerOf(p.address)).staked).to.equal(STAKE - forfeit);
    expect(await d.registry.freeStake(p.address)).to.equal(STAKE - forfeit);
    expect(await d.market.balanceOf(d.requester.address)).to.equal(forfeit);
    await expectConservation(d);
  });

  it("a ticket of a cancelled job resolves with nothing assigned and all its collateral back", async function () {
    const [p] = d.providers;
    const jobId = await postJob(d);
    await d.market.connect(p).requestClaim(jobId, 3);
    await d.market.connect(d.requester).cancelJob(jobId);
    await expect(d.market.connect(d.keeper).resolveClaims(jobId)).to.emit(d.market, "ClaimLapsed").withArgs(jobId, p.address, 3, 0);
    expect(await d.registry.freeStake(p.address)).to.equal(STAKE);
    await expectConservation(d);
  });
});
