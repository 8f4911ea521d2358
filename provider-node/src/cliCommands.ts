/**
 * The `tessellate-provider` commands (commander). Every command takes the config flags of
 * config.ts (`--rpc-url`, `--data-dir`, `--keystore`, …; see `--help`), on top of TESSELLATE_*
 * environment variables and a `--config` JSON file. Token amounts are written with decimals
 * ("100", "2.5") and converted with viem's parseUnits (18 decimals).
 */
import { join } from "node:path";
import { Command } from "commander";
import { formatUnits, parseUnits, type Address } from "viem";
import { connectChain, createMarketClient, type MarketClient } from "@tessellate/sdk";
import { FatalError, TessellateError } from "@tessellate/sdk/errors";
import { createKuboStorage } from "@tessellate/sdk/node";
import { addConfigOptions, cliValues, loadConfig, redactConfig, type ProviderConfig } from "./config/config.ts";
import { loadAccount } from "./config/keySource.ts";
import { detectCyclesKernel } from "./engines/blender/cpuKernel.ts";
import { createEngineRegistry, defaultEngines } from "./engines/registry.ts";
import { STATE_FILE, startProviderNode, stopOnSignals } from "./main.ts";
import { benchmarkEngines, buildProfile, publishProfile, type EngineBenchmark } from "./profile.ts";
import { StateStore } from "./state/stateStore.ts";

const out = (line = "") => process.stdout.write(`${line}\n`);

function configFrom(command: Command): ProviderConfig {
  return loadConfig({ cli: cliValues(command.opts()) });
}

async function connect(config: ProviderConfig): Promise<{ client: MarketClient; address: Address }> {
  const account = await loadAccount(config.key.keystoreFile);
  const conn = await connectChain({ rpcUrl: config.rpcUrl, addresses: config.contracts, pollingIntervalMs: config.chain.pollingIntervalMs, account });
  return { client: createMarketClient(conn), address: account.address };
}

/** "100" or "2.5" tokens → base units. */
export function parseAmount(text: string, what = "amount"): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(text.trim())) {
    throw new FatalError("CLI_BAD_AMOUNT", `${what} "${text}" is not a token amount — write it in tokens with up to 18 decimals, e.g. 100 or 2.5`);
  }
  const value = parseUnits(text.trim(), 18);
  if (value === 0n) throw new FatalError("CLI_BAD_AMOUNT", `${what} must be more than 0`);
  return value;
}

const tokens = (wei: bigint) => `${formatUnits(wei, 18)} tokens`;

async function benchmarkAndReport(config: ProviderConfig): Promise<EngineBenchmark[]> {
  // The benchmark renders in the same sandbox as jobs do (sandbox.isolation applies here too).
  const engines = createEngineRegistry(defaultEngines({ sandbox: { isolation: config.sandbox.isolation } }));
  const results = await benchmarkEngines(
    engines,
    config.engines,
    { threads: config.limits.cpuThreads, memoryBytes: config.limits.memoryBytes, timeoutMs: config.limits.renderTimeoutSeconds * 1000 },
    (name, version) => process.stderr.write(`benchmarking ${name} ${version} …\n`),
  );
  if (results.length === 0) throw new FatalError("CLI_NO_ENGINE", `none of the enabled engines (${config.engines.join(", ")}) is installed — install one or enable builtin`);
  for (const r of results) {
    out(`${r.name.padEnd(8)} ${r.version.padEnd(12)} score ${String(r.score).padStart(10)}   (${r.seconds} s)${r.cpuKernel === undefined ? "" : `   ${r.cpuKernel} CPU kernel`}`);
  }
  return results;
}

/** Publishes the profile and registers it (or updates it when already registered); keeps the score for `run`. */
async function publish(config: ProviderConfig, results: EngineBenchmark[]): Promise<void> {
  const { client, address } = await connect(config);
  const profile = buildProfile(address, config, results, new Date(), await detectCyclesKernel(process.env));
  const cid = await publishProfile(createKuboStorage({ url: config.ipfsApiUrl }), profile);
  const registered = (await client.providerOf(address)).registered;
  const tx = registered ? await client.updateProfile(cid) : await client.register(cid);
  if (profile.benchmarkScore !== null) {
    const store = StateStore.open(join(config.dataDir, STATE_FILE));
    try {
      const owner = store.getMeta("account");
      if (!owner || owner.toLowerCase() === address.toLowerCase()) {
        store.setMeta("account", address);
        store.setMeta("benchmarkScore", String(profile.benchmarkScore));
      }
    } finally {
      store.close();
    }
  }
  out(`${registered ? "updated the profile of" : "registered"} ${address}: profile ${cid} (tx ${tx.hash})`);
}

export function buildCli(): Command {
  const program = new Command("tessellate-provider")
    .description("Tessellate provider node: renders segments of render jobs for rewards, settled on-chain.")
    .showHelpAfterError();

  const command = (name: string, description: string) => addConfigOptions(program.command(name).description(description));

  command("register", "benchmark the engines, publish the profile to IPFS and register it on-chain (or update it)").action(async function (this: Command) {
    const config = configFrom(this);
    await publish(config, await benchmarkAndReport(config));
  });

  command("stake", "approve and stake tokens (e.g. `stake 100`)")
    .argument("<amount>", "tokens, with decimals")
    .action(async function (this: Command, amountText: string) {
      const config = configFrom(this);
      const amount = parseAmount(amountText);
      const { client, address } = await connect(config);
      const allowance = await client.allowance(address, client.addresses.registry);
      if (allowance < amount) await client.approve(client.addresses.registry, amount);
      const tx = await client.stake(amount);
      const p = await client.providerOf(address);
      out(`staked ${tokens(amount)} (tx ${tx.hash}); stake now ${tokens(p.staked)}, free ${tokens(await client.freeStake(address))}`);
    });

  command("unstake", "request an unstake of free stake; withdrawable after the unbonding delay (`withdraw --stake`)")
    .argument("<amount>", "tokens, with decimals")
    .action(async function (this: Command, amountText: string) {
      const config = configFrom(this);
      const amount = parseAmount(amountText);
      const { client, address } = await connect(config);
      const tx = await client.requestUnstake(amount);
      const p = await client.providerOf(address);
      out(`requested unstake of ${tokens(amount)} (tx ${tx.hash}); ${tokens(p.unbonding)} unbonding, withdrawable after ${new Date(Number(p.unbondingReadyAt) * 1000).toISOString()}`);
    });

  command("withdraw", "withdraw market earnings (with --stake: unbonded stake)")
    .option("--stake", "withdraw unbonded stake from the registry instead")
    .action(async function (this: Command) {
      const config = configFrom(this);
      const { client, address } = await connect(config);
      if (this.opts().stake) {
        const before = await client.tokenBalanceOf(address);
        const tx = await client.withdrawStake();
        out(`withdrew ${tokens((await client.tokenBalanceOf(address)) - before)} of unbonded stake (tx ${tx.hash})`);
        return;
      }
      const balance = await client.marketBalanceOf(address);
      if (balance === 0n) {
        out("nothing to withdraw: the market balance is 0");
        return;
      }
      const tx = await client.withdraw();
      out(`withdrew ${tokens(balance)} of earnings (tx ${tx.hash})`);
    });

  command("benchmark", "benchmark the installed engines and print their scores")
    .option("--publish", "also publish the profile and register or update it on-chain")
    .action(async function (this: Command) {
      const config = configFrom(this);
      const results = await benchmarkAndReport(config);
      if (this.opts().publish) await publish(config, results);
    });

  command("run", "run the provider daemon (Ctrl-C stops claiming, finishes or saves work in flight, and exits)")
    .option("--grace-seconds <n>", "how long a stop waits for renders in flight", "30")
    .action(async function (this: Command) {
      const config = configFrom(this);
      const node = await startProviderNode(config);
      out(`provider ${node.address} running${node.apiUrl ? `; API on ${node.apiUrl}` : ""}`);
      const grace = Number(this.opts().graceSeconds) * 1000;
      await stopOnSignals(node, Number.isFinite(grace) ? grace : 30_000);
    });

  command("status", "show the node's status (from its local API; from the chain with --chain or when the node is not running)")
    .option("--chain", "read the chain instead of the local API")
    .action(async function (this: Command) {
      const config = configFrom(this);
      if (!this.opts().chain && config.http.enabled) {
        const host = config.http.host === "0.0.0.0" || config.http.host === "::" ? "127.0.0.1" : config.http.host;
        try {
          const response = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${config.http.port}/status`, { signal: AbortSignal.timeout(5_000) });
          out(JSON.stringify(await response.json(), null, 2));
          return;
        } catch {
          process.stderr.write(`no node answers on ${host}:${config.http.port}; reading the chain\n`);
        }
      }
      const { client, address } = await connect(config);
      const [p, free, balance, wallet] = await Promise.all([client.providerOf(address), client.freeStake(address), client.marketBalanceOf(address), client.tokenBalanceOf(address)]);
      out(
        JSON.stringify(
          {
            address,
            registered: p.registered,
            stake: formatUnits(p.staked, 18),
            lockedCollateral: formatUnits(p.locked, 18),
            unbonding: formatUnits(p.unbonding, 18),
            freeStake: formatUnits(free, 18),
            reputation: p.score,
            record: { accepted: p.accepted, rejected: p.rejected, expired: p.expired, abandoned: p.abandoned },
            unwithdrawnEarnings: formatUnits(balance, 18),
            walletBalance: formatUnits(wallet, 18),
          },
          null,
          2,
        ),
      );
    });

  command("config", "print the resolved configuration (secrets redacted) and where the node keeps its state").action(function (this: Command) {
    out(JSON.stringify(redactConfig(configFrom(this)), null, 2));
  });

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof TessellateError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.code === "CONFIG_INVALID" ? 2 : 1;
    }
    throw error;
  }
}
