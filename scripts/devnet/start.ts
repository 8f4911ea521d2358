/**
 * `npm start`: the whole network on this machine, and a sample job through it.
 *
 *  1. Hardhat's node on 127.0.0.1:8545, the protocol deployed with Ignition, bindings regenerated;
 *  2. the embedded IPFS node (API :5001, gateway :8080);
 *  3. five provider daemons (devnet accounts 2–6), each benchmarked, registered and staked,
 *     with the engines found on this machine (builtin always);
 *  4. a sample job: the animated builtin scene in scenes/builtin-sample, 8 frames × 2×2 tiles,
 *     redundancy 2, on `job submit`'s default terms otherwise — exact, so audited at 40 % with
 *     collateral 4 × the reward (five providers: enough for an audit's dispute to finish) —
 *     submitted by the requester (account 1) with live progress;
 *  5. the composited frames in out/, a settlement summary, and an audit that rebuilds every
 *     balance from events alone and re-verifies the accepted results' digests from IPFS;
 *  6. the dApp (web/, built by `npm start` before this script) on http://127.0.0.1:3000, with the
 *     IPFS API answering its origin (CORS).
 * Then it keeps running for you to use (CLI, provider APIs, gateway) until Ctrl-C, which shuts
 * everything down. `--exit` stops after the summary (CI, scripts).
 *
 * Flags: --exit  --providers N (default 5; fewer than 5 turns the default audits off)  --frames A-B (default 1-8)  --out DIR (default out)
 *        --web-port N (default 3000)  --no-web
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { auditChain, consoleOutput, formatTokens, parseSubmitOptions, submitJob } from "@tessellate/cli";
import { CreditKind, eventsNamed, type ProtocolEvent } from "@tessellate/sdk";
import type { Address } from "viem";
import { DEVNET_ROLES, devnetAccount, devnetPrivateKey } from "./accounts.ts";
import { stopProcess } from "./chain.ts";
import { startNetwork, type Network } from "./network.ts";
import { requesterExportLines } from "./requesterEnv.ts";

const ROOT = join(import.meta.dirname, "../..");
const { values } = parseArgs({
  options: {
    exit: { type: "boolean", default: false },
    providers: { type: "string", default: "5" },
    frames: { type: "string", default: "1-8" },
    out: { type: "string", default: "out" },
    web: { type: "boolean", default: true },
    "web-port": { type: "string", default: "3000" },
  },
  allowNegative: true,
});
const webPort = Number(values["web-port"]);
const webUrl = `http://127.0.0.1:${webPort}`;
if (values.web && !existsSync(join(ROOT, "web/.next/BUILD_ID"))) {
  console.error("The dApp is not built: run `npm run web:build` (npm start does), or pass --no-web.");
  process.exit(2);
}
const providerCount = Number(values.providers);
if (!Number.isInteger(providerCount) || providerCount < 2 || providerCount > 6) {
  console.error("--providers must be an integer from 2 to 6 (the sample job needs 2 replicas per segment).");
  process.exit(2);
}

const started = Date.now();
const step = (message: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
let network: Network | undefined;
let web: ChildProcess | undefined;
let stopping = false;

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  step("shutting down: dApp, providers, IPFS, chain");
  if (web) await stopProcess(web);
  await network?.stop();
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(130));
process.on("SIGTERM", () => void shutdown(143));

try {
  network = await startNetwork({
    dir: join(ROOT, ".devnet"),
    chainPort: 8545,
    ipfsApiPort: 5001,
    ipfsGatewayPort: 8080,
    deploymentId: "chain-31337",
    onStep: step,
    ...(values.web ? { ipfsCorsOrigins: [webUrl, `http://localhost:${webPort}`] } : {}),
  });
  const generated = spawnSync(process.execPath, [join(ROOT, "scripts/generateBindings.ts")], { encoding: "utf8" });
  if (generated.status !== 0) throw new Error(`generating bindings failed:\n${generated.stderr}`);
  step("bindings regenerated with the devnet addresses (sdk/src/contracts.generated.ts)");

  if (values.web) {
    const nextBin = createRequire(join(ROOT, "web/package.json")).resolve("next/dist/bin/next");
    web = spawn(process.execPath, [nextBin, "start", "--hostname", "127.0.0.1", "--port", String(webPort)], {
      cwd: join(ROOT, "web"),
      stdio: "ignore",
      env: {
        ...process.env,
        NEXT_TELEMETRY_DISABLED: "1",
        TESSELLATE_RPC_URL: network.rpcUrl,
        TESSELLATE_IPFS_API_URL: network.ipfsApiUrl,
        TESSELLATE_IPFS_GATEWAY_URL: network.gatewayUrl,
        TESSELLATE_TOKEN_ADDRESS: network.addresses.token,
        TESSELLATE_REGISTRY_ADDRESS: network.addresses.registry,
        TESSELLATE_MARKET_ADDRESS: network.addresses.market,
      },
    });
    step(`dApp: ${webUrl} (Network and Provider pages; the devnet accounts are in its wallet menu)`);
  }

  const providerAccounts = Array.from({ length: providerCount }, (_, i) => DEVNET_ROLES.firstProvider + i);
  for (const [i, account] of providerAccounts.entries()) {
    await network.startProvider({ account, httpPort: 7801 + i });
  }

  const requester = await network.client(DEVNET_ROLES.requester);
  const observer = await network.client(DEVNET_ROLES.deployer);
  const startBlock = await observer.blockNumber();
  const nativeBefore = await nativeBalances(network, providerAccounts);

  step("submitting the sample job as the requester");
  const options = parseSubmitOptions(join(ROOT, "scenes/builtin-sample"), {
    engine: "builtin",
    size: "160x120",
    frames: values.frames,
    tiles: "2x2",
    framesPerSegment: "1",
    redundancy: "2",
    quorum: "2",
    reward: "2",
    samples: "16",
    seed: "7",
    maxBounces: "4",
    lease: "300",
    revealWindow: "120",
    deadline: "1h",
    out: join(ROOT, values.out!),
    wait: true,
    video: true,
    recordOutput: true,
  });
  const result = await submitJob(options, { market: requester, storage: network.storage, output: consoleOutput() });

  // Let the providers finish their withdrawals, then summarise from the chain's own events.
  await new Promise((r) => setTimeout(r, 2_000));
  const events = await observer.events(startBlock, await observer.blockNumber());
  await printSummary(network, result.jobId, providerAccounts, events, nativeBefore, result.outcome?.money);

  // The auditor's view: every balance rebuilt from events alone, compared with the contracts,
  // and every accepted result re-fetched from IPFS and its pixel digest re-computed.
  const audit = await auditChain({ verifyResults: true }, { market: observer, storage: network.storage });
  console.log(
    `\nAudit (events only vs contracts): ${audit.counts.events} events, ${audit.counts.jobs} job(s), ${audit.counts.accounts} accounts, ` +
      `${audit.verification ? `${audit.verification.ok}/${audit.verification.checked} results re-verified on IPFS, ` : ""}` +
      `${audit.discrepancies.length} discrepancies`,
  );
  for (const d of audit.discrepancies.slice(0, 10)) console.log(`  ${JSON.stringify(d, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);

  const frames = result.fetched?.report.frames ?? [];
  step(`done: ${frames.length} composited frame(s) in ${values.out}/${result.video?.ok ? `, video ${result.video.outPath}` : ""}`);
  const healthy = (result.outcome?.complete ?? false) && audit.discrepancies.length === 0;
  if (values.exit || !healthy) {
    await shutdown(healthy ? 0 : 1);
  } else {
    console.log(
      [
        "",
        "The network keeps running — try, in another terminal:",
        ...(values.web ? [`  open ${webUrl} in a browser (the dApp)`] : []),
        ...requesterExportLines({ ...network, privateKey: devnetPrivateKey(DEVNET_ROLES.requester) }).map((line) => `  ${line}`),
        "  (devnet keys are public test keys: never use them on a real network)",
        "  npx tessellate job status 1        npx tessellate audit --verify-results",
        `  curl ${network.providers[0].apiUrl}/status   curl ${network.providers[0].apiUrl}/metrics`,
        `  ${network.gatewayUrl}/ipfs/<cid>   (the result CIDs above)`,
        "Ctrl-C stops everything.",
      ].join("\n"),
    );
  }
} catch (error) {
  console.error(`\nnpm start failed: ${error instanceof Error ? error.message : String(error)}`);
  console.error(`Logs are in .devnet/ (chain.log, provider-*.log).`);
  await shutdown(1);
}

async function nativeBalances(net: Network, accounts: number[]) {
  const client = await net.client(DEVNET_ROLES.deployer);
  const balances = new Map<number, bigint>();
  for (const account of accounts) {
    balances.set(account, await client.conn.publicClient.getBalance({ address: devnetAccount(account).address }));
  }
  return balances;
}

async function printSummary(
  net: Network,
  jobId: bigint,
  providerAccounts: number[],
  events: ProtocolEvent[],
  nativeBefore: Map<number, bigint>,
  money: { paid: bigint; fees: bigint; refunded: bigint; compensation: bigint; escrowLeft: bigint } | undefined,
) {
  const credited = eventsNamed(events, "Credited").filter((e) => e.args.jobId === jobId);
  const withdrawn = eventsNamed(events, "Withdrawn");
  const created = eventsNamed(events, "JobCreated").find((e) => e.args.jobId === jobId);
  const reward = created?.args.params.rewardPerReplica ?? 1n;
  const after = await nativeBalances(net, providerAccounts);
  const sum = (who: Address, kinds: number[]) =>
    credited.filter((e) => e.args.account === who && kinds.includes(e.args.kind)).reduce((a, e) => a + e.args.amount, 0n);
  const rows = providerAccounts.map((account) => {
    const address = devnetAccount(account).address;
    const earned = sum(address, [CreditKind.Reward, CreditKind.TieBreakerReward]);
    const out = withdrawn.filter((e) => e.args.account === address).reduce((a, e) => a + e.args.amount, 0n);
    const gasWei = (nativeBefore.get(account) ?? 0n) - (after.get(account) ?? 0n);
    return [
      `provider ${account}`,
      `${address.slice(0, 10)}…`,
      `${earned / reward} replica(s)`,
      `earned ${formatTokens(earned)}`,
      `withdrawn ${formatTokens(out)}`,
      `gas ${(Number(gasWei) / 1e18).toFixed(6)} ETH`,
    ];
  });
  const requester = devnetAccount(DEVNET_ROLES.requester).address;
  const ofJob = (name: "SegmentVerifying" | "AuditOpened" | "AuditDisputed") => eventsNamed(events, name).filter((e) => e.args.jobId === jobId).length;
  console.log("\nSettlement summary (from the chain's events)");
  if (created && created.args.params.auditBps > 0) {
    console.log(`  audits      ${created.args.params.auditBps / 100} %: ${ofJob("SegmentVerifying")} segments reached their quorum and drew, ${ofJob("AuditOpened")} were audited, ${ofJob("AuditDisputed")} disputed`);
  }
  for (const row of rows) console.log(`  ${row[0].padEnd(11)} ${row[1]}  ${row[2].padEnd(14)} ${row[3].padEnd(26)} ${row[4].padEnd(28)} ${row[5]}`);
  console.log(
    `  requester   ${requester.slice(0, 10)}…  paid ${formatTokens(created?.args.escrow ?? 0n)} into escrow; refunded ${formatTokens(
      sum(requester, [CreditKind.Refund, CreditKind.Compensation]),
    )}${money ? `; rewards ${formatTokens(money.paid)}, fees ${formatTokens(money.fees)}, escrow left ${formatTokens(money.escrowLeft)}` : ""}`,
  );
}
