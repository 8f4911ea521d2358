/**
 * Two providers race for the last free slot on a real chain (Hardhat node + the real Ignition
 * deployment), both transactions in one block (issue 12 item 10): both simulate fine, one wins,
 * the other reverts on-chain. The loser's error must say why — the contract's
 * `JobMarketNothingToClaim`, decoded by simulating the call again against the block it was mined
 * in — not a bare "reverted on-chain", so the worker's decisions switch on it. Every transaction
 * carries the estimate's headroom (a claim's cost can grow between estimate and inclusion).
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectChain, createMarketClient, gasWithHeadroom, type MarketClient } from "@tessellate/sdk";
import { contractErrorOf, ContractRevertError } from "@tessellate/sdk/contractErrors";
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

test("the loser of a claim race in one block gets the decoded contract error; transactions carry gas headroom", { timeout: 120_000 }, async () => {
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

  // Both claims are simulated against the same state and mined in the same block.
  await rpc("evm_setAutomine", [false]);
  const racing = providers.map((p) => p.claim(jobId, 1).then((r) => ({ ok: r }), (error: unknown) => ({ error })));
  // Wait until both transactions are in the mempool, then mine them together.
  for (let i = 0; i < 200; i++) {
    const pending = (await rpc("eth_getBlockByNumber", ["pending", false])) as { transactions: unknown[] };
    if (pending.transactions.length >= 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await rpc("evm_mine");
  await rpc("evm_setAutomine", [true]);
  const outcomes = await Promise.all(racing);

  const winners = outcomes.filter((o) => "ok" in o);
  const losers = outcomes.filter((o): o is { error: unknown } => "error" in o);
  assert.equal(winners.length, 1, JSON.stringify(outcomes.map((o) => ("error" in o ? String(o.error) : "ok"))));
  assert.equal(losers.length, 1);
  const error = losers[0]!.error;
  assert.ok(error instanceof ContractRevertError, `the loser's error: ${String(error)}`);
  assert.equal(contractErrorOf(error)?.name, "JobMarketNothingToClaim", (error as Error).message);

  // The winner's transaction was sent with the estimate's headroom.
  const won = (winners[0] as { ok: Awaited<ReturnType<MarketClient["claim"]>> }).ok;
  const sent = await requester.conn.publicClient.getTransaction({ hash: won.hash });
  assert.ok(sent.gas >= gasWithHeadroom(won.gasUsed) - 30_000n, `gas limit ${sent.gas} for ${won.gasUsed} used`);
  assert.ok(sent.gas > won.gasUsed + 20_000n, `gas limit ${sent.gas} leaves headroom over ${won.gasUsed}`);
});
