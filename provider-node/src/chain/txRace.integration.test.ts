/**
 * Transactions that race on a real chain (Hardhat node + the real Ignition deployment), both in one
 * block (issue 12 item 10). Two providers ask for the last free slot in one block: with claim
 * tickets neither reverts — both requests lock collateral, the first ticket takes the slot and the
 * other lapses unfilled with its collateral back. Two keepers expire the same missed lease in one
 * block: both simulate fine, one wins, the other reverts on-chain, and its error must say why — the
 * contract's `JobMarketNotExpirable`, decoded by simulating the call again against the block it was
 * mined in — not a bare "reverted on-chain". Every transaction carries the estimate's headroom.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectChain, createMarketClient, eventsNamed, gasWithHeadroom, type MarketClient } from "@tessellate/sdk";
import { contractErrorOf, ContractRevertError } from "@tessellate/sdk/contractErrors";
import { unpackSlot } from "@tessellate/sdk/protocol";
import { devnetAccount, DEVNET_ROLES } from "../../../scripts/devnet/accounts.ts";
import { deployProtocol, startChain, type DeployedProtocol, type RunningChain } from "../../../scripts/devnet/chain.ts";
import { testPort } from "../../../scripts/devnet/ports.ts";

const PORT = testPort(8662);
const DEPLOYMENT = "test-tx-race";
const TOKEN = 10n ** 18n;
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

let chain: RunningChain;
let deployed: DeployedProtocol;

async function client(index: number): Promise<MarketClient> {
  return createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses: deployed, account: devnetAccount(index), pollingIntervalMs: 50 }));
}

async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
  const response = await fetch(chain.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

before(async () => {
  chain = await startChain({ port: PORT });
  deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: DEPLOYMENT });
});

after(async () => {
  await chain?.stop();
  await rm(join(import.meta.dirname, "../../../ignition/deployments", DEPLOYMENT), { recursive: true, force: true });
});

test("racing claims in one block: the second ticket lapses unfilled at no cost; a racing expire's loser gets the decoded contract error; transactions carry gas headroom", { timeout: 120_000 }, async () => {
  const deployer = await client(DEVNET_ROLES.deployer);
  const requester = await client(DEVNET_ROLES.requester);
  const providers = [await client(DEVNET_ROLES.firstProvider), await client(DEVNET_ROLES.firstProvider + 1)];
  await deployer.transferToken(requester.account!, 100n * TOKEN);
  for (const p of providers) {
    await deployer.transferToken(p.account!, 100n * TOKEN);
    await p.register(CID);
    await p.approve(deployed.registry, 50n * TOKEN);
    await p.stake(50n * TOKEN);
  }
  await requester.approve(deployed.market, 100n * TOKEN);
  const now = await requester.latestTimestamp();
  const { jobId } = await requester.createJob({
    manifestCid: CID,
    segmentCount: 1,
    redundancy: 1,
    quorum: 1,
    rewardPerReplica: 1n * TOKEN,
    collateralPerReplica: 1n * TOKEN,
    leaseDuration: 60,
    revealWindow: 60,
    deadline: now + 3_600n,
    minReputation: 0,
    maxFeeBps: 1_000,
  });

  // Both requests are simulated against the same state and mined in the same block.
  const freeBefore = await Promise.all(providers.map((p) => p.freeStake(p.account!)));
  const racing = await inOneBlock(providers.map((p) => () => p.claim(jobId, 1)));
  const claims = racing.map((o) => {
    if ("error" in o) throw o.error;
    return o.ok;
  });
  // Whose resolution ran first decides in which transaction the winner's slot shows (a ticket
  // resolved in passing by the other's resolution is in neither of its own), so count the slots
  // per provider over all four transactions.
  const all = claims.flatMap((c) => [...c.request.events, ...c.events]);
  const slotsOf = (p: MarketClient) =>
    eventsNamed(all, "ReplicasClaimed").filter((e) => e.args.provider === p.account).reduce((n, e) => n + e.args.slots.length, 0);
  const counts = providers.map(slotsOf);
  assert.deepEqual([...counts].sort(), [0, 1], "one ticket takes the slot, the other finds nothing open");
  const loser = counts.indexOf(0);
  assert.equal(await providers[loser]!.freeStake(providers[loser]!.account!), freeBefore[loser], "the unfilled ticket's collateral is back");
  // Whichever resolution ran first resolved both due tickets, oldest first.
  const lapsed = claims.flatMap((c) => c.events).filter((e) => e.eventName === "ClaimLapsed");
  assert.equal(lapsed.length, 1, "the losing ticket's resolution says it lapsed unfilled");
  assert.equal(lapsed[0]!.args.provider, providers[loser]!.account);
  assert.equal(lapsed[0]!.args.forfeited, 0n, "an unfilled ticket forfeits nothing");

  // The winner's transactions were sent with the estimate's headroom.
  const won = claims[1 - loser]!;
  for (const tx of [won.request, won]) {
    const sent = await requester.conn.publicClient.getTransaction({ hash: tx.hash });
    assert.ok(sent.gas >= gasWithHeadroom(tx.gasUsed) - 30_000n, `gas limit ${sent.gas} for ${tx.gasUsed} used`);
    assert.ok(sent.gas > tx.gasUsed + 20_000n, `gas limit ${sent.gas} leaves headroom over ${tx.gasUsed}`);
  }

  // Two keepers expire the winner's missed lease in one block: one wins, the other's revert is decoded.
  await rpc("evm_increaseTime", [120]);
  await rpc("evm_mine");
  const keepers = [await client(DEVNET_ROLES.firstProvider + 2), await client(DEVNET_ROLES.firstProvider + 3)];
  const slot = unpackSlot(eventsNamed(all, "ReplicasClaimed")[0]!.args.slots[0]!); // the job's one slot, wherever it showed
  const expiring = await inOneBlock(keepers.map((k) => () => k.expire(jobId, [{ segment: slot.segment, replica: slot.replica }])));
  const winners = expiring.filter((o) => "ok" in o);
  const losers = expiring.filter((o): o is { error: unknown } => "error" in o);
  assert.equal(winners.length, 1, JSON.stringify(expiring.map((o) => ("error" in o ? String(o.error) : "ok"))));
  const error = losers[0]!.error;
  assert.ok(error instanceof ContractRevertError, `the loser's error: ${String(error)}`);
  assert.equal(contractErrorOf(error)?.name, "JobMarketNotExpirable", (error as Error).message);
});

/** Runs the calls with automine off until each has a transaction pending, mines them in one block. */
async function inOneBlock<T>(calls: (() => Promise<T>)[]): Promise<({ ok: T } | { error: unknown })[]> {
  await rpc("evm_setAutomine", [false]);
  try {
    const racing = calls.map((call) => call().then((ok) => ({ ok }), (error: unknown) => ({ error })));
    for (let i = 0; i < 200; i++) {
      const pending = (await rpc("eth_getBlockByNumber", ["pending", false])) as { transactions: unknown[] };
      if (pending.transactions.length >= calls.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await rpc("evm_mine");
    await rpc("evm_setAutomine", [true]);
    return await Promise.all(racing);
  } finally {
    await rpc("evm_setAutomine", [true]);
  }
}
