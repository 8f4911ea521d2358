/**
 * A market call that reverts inside the registry, on a real chain (Hardhat node + the real
 * Ignition deployment). JobMarket locks a claim's collateral through
 * `ProviderRegistry.lockCollateral`; when that call reverts, the revert data is the registry's
 * error, which the market's ABI does not hold. The keeper used to log such a revert (then seen
 * during `expire`, when an admin could revoke the market's registry role — no longer possible:
 * the registry has no admin) as "rejected by the contract: unknown error()"; decoded against all
 * three ABIs it names the registry's error and its arguments, and the worker's decisions can
 * switch on it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connectChain, createMarketClient, type MarketClient } from "@tessellate/sdk";
import { contractErrorOf, ContractRevertError } from "@tessellate/sdk/contractErrors";
import { devnetAccount, DEVNET_ROLES } from "../../scripts/devnet/accounts.ts";
import { deployProtocol, startChain, type DeployedProtocol, type RunningChain } from "../../scripts/devnet/chain.ts";
import { testPort } from "../../scripts/devnet/ports.ts";

const PORT = testPort(8652);
const DEPLOYMENT = "test-keeper-revert";
const TOKEN = 10n ** 18n;

let chain: RunningChain;
let deployed: DeployedProtocol;

async function client(index: number): Promise<MarketClient> {
  return createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses: deployed, account: devnetAccount(index) }));
}

before(async () => {
  chain = await startChain({ port: PORT });
  deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: DEPLOYMENT });
});

after(async () => {
  await chain?.stop();
  await import("node:fs/promises").then((fs) => fs.rm(join(import.meta.dirname, "../../ignition/deployments", DEPLOYMENT), { recursive: true, force: true }));
});

test("a registry revert inside a market call decodes to the registry's error and its arguments", { timeout: 90_000 }, async () => {
  const deployer = await client(DEVNET_ROLES.deployer);
  const requester = await client(DEVNET_ROLES.requester);
  const provider = await client(DEVNET_ROLES.firstProvider);
  await deployer.transferToken(requester.account!, 100n * TOKEN);
  await deployer.transferToken(provider.account!, 100n * TOKEN);
  await provider.register("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy");
  await provider.approve(deployed.registry, 50n * TOKEN);
  await provider.stake(50n * TOKEN);
  await requester.approve(deployed.market, 100n * TOKEN);
  const now = await requester.latestTimestamp();
  // Collateral above the provider's free stake: the market's claim request reverts inside the registry.
  const { jobId } = await requester.createJob({
    manifestCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    segmentCount: 1,
    redundancy: 1,
    quorum: 1,
    rewardPerReplica: 1n * TOKEN,
    collateralPerReplica: 60n * TOKEN,
    leaseDuration: 30,
    revealWindow: 30,
    deadline: now + 3_600n,
    minReputation: 0,
    maxFeeBps: 1_000,
  });

  const error = await provider.claim(jobId, 1).then(
    () => assert.fail("claim should revert"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ContractRevertError, String(error));
  const revert = contractErrorOf(error);
  assert.equal(revert?.name, "ProviderRegistryInsufficientFreeStake", (error as Error).message);
  if (revert?.name === "ProviderRegistryInsufficientFreeStake") {
    // Typed from the registry's ABI: (address provider, uint256 free, uint256 needed).
    const [account, free, needed] = revert.args;
    assert.equal(account.toLowerCase(), provider.account!.toLowerCase());
    assert.equal(free, 50n * TOKEN);
    assert.equal(needed, 60n * TOKEN);
  }
  assert.doesNotMatch((error as Error).message, /unknown error/);
  assert.match((error as Error).message, /^requestClaim was rejected by the contract: ProviderRegistryInsufficientFreeStake\(0x[0-9a-fA-F]{40}, 50000000000000000000, 60000000000000000000\)$/);
});
