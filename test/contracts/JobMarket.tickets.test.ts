/**
 * Claim tickets (issue 10 property 1): a request locks collateral and queues a ticket seeded by its
 * block; the ticket resolves in a later block, first-in first-out, in `resolveClaims` or in passing.
 * These tests pin what a claimer can no longer choose: the creation block, where a due ticket lands
 * (not by who resolves it, when, or what an accomplice does first), and a lapse for free.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse } from "ethers";
import {
  COLLATERAL,
  STAKE,
  UNIT,
  type Deployment,
  ReplicaState,
  cheater,
  honest,
  claimAndCommitEach,
  claim,
  commitAll,
  deployFixture,
  ethers,
  eventsOf,
  expectConservation,
  networkHelpers,
  postJob,
  revealAll,
} from "./helpers/driver.ts";
import { unpackSlots } from "../../sdk/src/protocol/slots.ts";

/** Sends the transactions `send` makes into one block (automine off), mines it, and returns them. */
async function inOneBlock(send: () => Promise<ContractTransactionResponse[]>) {
  await ethers.provider.send("evm_setAutomine", [false]);
  try {
    const txs = await send();
    await ethers.provider.send("evm_mine", []);
    return txs;
  } finally {
    await ethers.provider.send("evm_setAutomine", [true]);
  }
}

/** A request with a fixed gas limit: with automine off a gas estimate would run on the wrong state. */
function request(d: Deployment, provider: HardhatEthersSigner, jobId: bigint, count: number) {
  return d.market.connect(provider).requestClaim(jobId, count, { gasLimit: 1_000_000 });
}

/** The waiting tickets, oldest first, as [provider, count]. */
async function waitingOf(d: Deployment, jobId: bigint) {
  const [, , waiting] = await d.market.claimQueueOf(jobId);
  return waiting.map((t) => [t.provider, Number(t.count)]);
}

/** The providers a resolution call assigned slots to, in order, with how many each got. */
async function assignedBy(d: Deployment, tx: ContractTransactionResponse) {
  return (await eventsOf(d, tx, "ReplicasClaimed")).map((e) => [e.args.provider, unpackSlots(e.args.slots).length]);
}

describe("Claim tickets (issue 10.1)", function () {
  let d: Deployment;
  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  it("no request in the job's creation block (was: the requester claimed every segment in the transaction after createJob)", async function () {
    const params = { manifestCid: "bafymanifest", segmentCount: 4, redundancy: 2, quorum: 2, rewardPerReplica: 10n ** 19n, collateralPerReplica: COLLATERAL, leaseDuration: 600, revealWindow: 300, deadline: (await networkHelpers.time.latest()) + 86_400, minReputation: 0, maxFeeBps: 1_000, verification: 0, toleranceBps: 0, auditBps: 0 };
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

  it("ATTACK unbounded queue: 256 tickets waiting fill a job's queue, the 257th request reverts JobMarketClaimQueueFull, and once they resolve requests are accepted again", async function () {
    // An unbounded queue would let anyone make the next resolution (and every path that resolves
    // in passing) cost unbounded gas. A collateral of one token lets one provider ask 257 times.
    const [p] = d.providers;
    const jobId = await postJob(d, { rewardPerReplica: UNIT, collateralPerReplica: UNIT });
    const txs = await inOneBlock(async () => {
      const sent: ContractTransactionResponse[] = [];
      for (let i = 0; i < 257; i++) sent.push(await request(d, p, jobId, 1));
      return sent;
    });
    const receipts = await Promise.all(txs.map((tx) => ethers.provider.getTransactionReceipt(tx.hash)));
    expect(new Set(receipts.map((r) => r!.blockNumber)).size, "all 257 requests in one block").to.equal(1);
    expect(receipts.slice(0, 256).every((r) => r!.status === 1), "the first 256 requests queued").to.equal(true);
    expect(receipts[256]!.status, "the 257th request reverted").to.equal(0);
    const trace = await ethers.provider.send("debug_traceTransaction", [txs[256].hash, { disableStorage: true, disableStack: true, disableMemory: true }]);
    const error = d.market.interface.parseError(trace.returnValue);
    expect([error?.name, error?.args.toArray()]).to.deep.equal(["JobMarketClaimQueueFull", [jobId]]);
    expect(await waitingOf(d, jobId)).to.have.length(256);
    expect(await d.registry.freeStake(p.address), "the reverted request locked nothing").to.equal(STAKE - 256n * UNIT);

    // In the next block they are due: a request resolves 64 of them in passing (the slot budget) and queues.
    await expect(d.market.connect(p).requestClaim(jobId, 1)).to.emit(d.market, "ClaimRequested");
    const [, head] = await d.market.claimQueueOf(jobId);
    expect(head).to.equal(64n);
    expect(await waitingOf(d, jobId)).to.have.length(256 - 64 + 1);
    while ((await waitingOf(d, jobId)).length !== 0) await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await d.registry.freeStake(p.address), "the lapsed tickets released their collateral").to.equal(STAKE - 4n * UNIT);
    await expectConservation(d);
  });

  it("a resolution call spends at most 64 slots across tickets, oldest first: two due 40-slot tickets take two calls (bounded gas per call)", async function () {
    const [a, b] = d.providers;
    const jobId = await postJob(d, { segmentCount: 64 });
    await inOneBlock(async () => [await request(d, a, jobId, 40), await request(d, b, jobId, 40)]);
    expect(await waitingOf(d, jobId)).to.deep.equal([[a.address, 40], [b.address, 40]]);
    // eth_call at "latest" runs in that block, where these tickets are not yet due: simulate the next block.
    expect(await d.market.resolveClaims.staticCall(jobId, { blockTag: "pending" }), "the first call resolves one ticket").to.equal(1n);
    const first = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, first), "the first call: the older ticket only").to.deep.equal([[a.address, 40]]);
    expect(await waitingOf(d, jobId)).to.deep.equal([[b.address, 40]]);
    const second = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, second), "the next call: the younger one").to.deep.equal([[b.address, 40]]);
    expect(await waitingOf(d, jobId)).to.deep.equal([]);
  });

  it("a ticket that exactly fills the rest of the 64-slot budget resolves in the same call (40 + 24), the one behind it waits for the next call", async function () {
    const [a, b, c] = d.providers;
    const jobId = await postJob(d, { segmentCount: 64 });
    await inOneBlock(async () => [await request(d, a, jobId, 40), await request(d, b, jobId, 24), await request(d, c, jobId, 1)]);
    expect(await waitingOf(d, jobId)).to.deep.equal([[a.address, 40], [b.address, 24], [c.address, 1]]);
    const first = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, first)).to.deep.equal([[a.address, 40], [b.address, 24]]);
    expect(await waitingOf(d, jobId)).to.deep.equal([[c.address, 1]]);
    const second = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, second)).to.deep.equal([[c.address, 1]]);
  });

  it("the largest ticket (64 slots, the whole budget) resolves as the first of a call; even a 1-slot ticket behind it waits for the next call", async function () {
    const [a, b] = d.providers;
    const jobId = await postJob(d, { segmentCount: 64, rewardPerReplica: UNIT, collateralPerReplica: UNIT });
    await inOneBlock(async () => [await request(d, a, jobId, 64), await request(d, b, jobId, 1)]);
    const first = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, first)).to.deep.equal([[a.address, 64]]);
    expect(await waitingOf(d, jobId)).to.deep.equal([[b.address, 1]]);
    const second = await d.market.connect(d.keeper).resolveClaims(jobId);
    expect(await assignedBy(d, second)).to.deep.equal([[b.address, 1]]);
  });

  it("ATTACK aim at the tie-breaker: a ticket requested before a disagreeing reveal and due at it is drawn against the open set it was requested in, so it cannot land on the tie-breaker slot", async function () {
    // The cheater's accomplice asks for a slot just before the cheater's disagreeing reveal, hoping
    // to be drawn onto the tie-breaker slot that reveal opens and to decide the segment. The reveal
    // resolves the due ticket first, against the full segment: it lapses, its collateral back.
    const [honestA, cheat, accomplice] = d.providers;
    const jobId = await postJob(d, { segmentCount: 1 });
    const [slotA, slotC] = await claimAndCommitEach(d, jobId, [honestA, cheat], [honest, cheater]);
    await revealAll(d, honestA, jobId, [slotA]);
    await d.market.connect(accomplice).requestClaim(jobId, 1);
    const disagree = await revealAll(d, cheat, jobId, [slotC], cheater); // the next block: the ticket is due
    await expect(disagree).to.emit(d.market, "TieBreakerOpened").withArgs(jobId, 0, 3);
    // Whoever resolves after the reveal finds no ticket left to draw onto the reopened segment.
    await d.market.connect(d.keeper).resolveClaims(jobId);
    const tieBreakerSlot = await d.market.replicaOf(jobId, 0, 2);
    expect([tieBreakerSlot.provider, tieBreakerSlot.state], "the tie-breaker slot").to.deep.equal([ethers.ZeroAddress, ReplicaState.Empty]);
    await expect(disagree).to.emit(d.market, "ClaimLapsed").withArgs(jobId, accomplice.address, 1, 0);
    expect(await assignedBy(d, disagree)).to.deep.equal([]);
    expect(await waitingOf(d, jobId)).to.deep.equal([]);
    expect(await d.registry.freeStake(accomplice.address)).to.equal(STAKE);
    // The slot was open to the accomplice all along: only a ticket requested after the reveal may draw it.
    expect(await claim(d, accomplice, jobId, 1)).to.deep.equal([{ segment: 0, replica: 2 }]);
    await expectConservation(d);
  });
});
