/**
 * A keeper's `expire` that reverts inside the registry, on a real chain (Hardhat node + the real
 * Ignition deployment). JobMarket settles an expired slot's outcome through
 * `ProviderRegistry.applyOutcomes`; when that call reverts, the revert data is the registry's
 * error, which the market's ABI does not hold. The keeper used to log it as "expire was rejected
 * by the contract: unknown error()"; decoded against all three ABIs it names the registry's error
 * and its arguments, and the worker's decisions can switch on it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { keccak256, toHex } from "viem";
import { connectChain, createMarketClient, providerRegistryAbi, type MarketClient } from "@tessellate/sdk";
import { contractErrorOf, ContractRevertError } from "@tessellate/sdk/contractErrors";
import { devnetAccount, DEVNET_ROLES } from "../../scripts/devnet/accounts.ts";
import { deployProtocol, startChain, type DeployedProtocol, type RunningChain } from "../../scripts/devnet/chain.ts";
import { testPort } from "../../scripts/devnet/ports.ts";

const PORT = testPort(8652);
const DEPLOYMENT = "test-keeper-revert";
const TOKEN = 10n ** 18n;
const MARKET_ROLE = keccak256(toHex("MARKET_ROLE"));

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

test("a registry revert during expire decodes to the registry's error and its arguments", { timeout: 90_000 }, async () => {
  const deployer = await client(DEVNET_ROLES.deployer);
  const requester = await client(DEVNET_ROLES.requester);
  const provider = await client(DEVNET_ROLES.firstProvider);
  const keeper = await client(DEVNET_ROLES.firstProvider + 1);
  await deployer.transferToken(requester.account!, 100n * TOKEN);
  await deployer.transferToken(provider.account!, 100n * TOKEN);
  await provider.register("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy");
  await provider.approve(deployed.registry, 50n * TOKEN);
  await provider.stake(50n * TOKEN);
  await requester.approve(deployed.market, 100n * TOKEN);
  const now = await requester.latestTimestamp();
  const { jobId } = await requester.createJob({
    manifestCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    segmentCount: 1,
    redundancy: 1,
    quorum: 1,
    rewardPerReplica: 1n * TOKEN,
    collateralPerReplica: 2n * TOKEN,
    leaseDuration: 30,
    revealWindow: 30,
    deadline: now + 3_600n,
    minReputation: 0,
  });
  const claimed = await provider.claim(jobId, 1);
  assert.equal(claimed.slots.length, 1);

  // The lease passes without a commit; then the registry stops accepting the market's outcomes
  // (its admin revokes the market's role), so expire's applyOutcomes reverts inside the registry.
  const { publicClient, walletClient } = deployer.conn;
  await publicClient.request({ method: "evm_increaseTime" as never, params: [60] as never });
  await publicClient.request({ method: "evm_mine" as never, params: [] as never });
  const revoke = await walletClient!.writeContract({
    address: deployed.registry,
    abi: providerRegistryAbi,
    functionName: "revokeRole",
    args: [MARKET_ROLE, deployed.market],
    account: walletClient!.account,
    chain: walletClient!.chain,
  });
  await publicClient.waitForTransactionReceipt({ hash: revoke });

  const error = await keeper.expire(jobId, [{ segment: claimed.slots[0].segment, replica: claimed.slots[0].replica }]).then(
    () => assert.fail("expire should revert"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ContractRevertError, String(error));
  const revert = contractErrorOf(error);
  assert.equal(revert?.name, "AccessControlUnauthorizedAccount", (error as Error).message);
  if (revert?.name === "AccessControlUnauthorizedAccount") {
    // Typed from the registry's ABI: (address account, bytes32 neededRole).
    const [account, role] = revert.args;
    assert.equal(account.toLowerCase(), deployed.market.toLowerCase());
    assert.equal(role, MARKET_ROLE);
  }
  assert.doesNotMatch((error as Error).message, /unknown error/);
  assert.match((error as Error).message, /^expire was rejected by the contract: AccessControlUnauthorizedAccount\(0x[0-9a-fA-F]{40}, 0x[0-9a-f]{64}\)$/);
});
