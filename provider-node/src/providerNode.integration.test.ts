/**
 * Two provider nodes on a real local chain (Hardhat node + the real Ignition deployment), with the
 * real builtin engine and the embedded IPFS node, settle a small job at redundancy 2. The
 * requester side speaks directly through the sdk's market client.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  commitmentOf,
  connectChain,
  createMarketClient,
  decodePng,
  DEFAULT_TOLERANCE_BPS,
  encodeManifest,
  eventsNamed,
  fingerprint,
  parseManifest,
  pngDigest,
  roundDigest,
  resultFileName,
  segmentCount,
  Verification,
  type JobParams,
  type Manifest,
  type MarketClient,
  type Storage,
} from "@tessellate/sdk";
import { createKuboStorage } from "@tessellate/sdk/node";
import { startIpfsNode, silentLogger as silentIpfsLogger, type IpfsNode } from "../../ipfs-node/src/index.ts";
import { devnetAccount, devnetPrivateKey, DEVNET_ROLES } from "../../scripts/devnet/accounts.ts";
import { deployProtocol, startChain, type DeployedProtocol, type RunningChain } from "../../scripts/devnet/chain.ts";
import { resolveConfig } from "./config/config.ts";
import { BUILTIN_VERSION } from "./engines/builtin/index.ts";
import { createLogger, silentLogger } from "./logger.ts";
import { startProviderNode, type ProviderNode } from "./main.ts";
import { testPort } from "../../scripts/devnet/ports.ts";

const PORT = testPort(8651);
const TOKEN = 10n ** 18n;
const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample/scene.json");

let chain: RunningChain;
let deployed: DeployedProtocol;
let ipfs: IpfsNode;
let storage: Storage;
let dir: string;
const nodes: ProviderNode[] = [];

async function client(index: number): Promise<MarketClient> {
  return createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses: deployed, account: devnetAccount(index) }));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tessellate-provider-integration-"));
  chain = await startChain({ port: PORT });
  deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: "test-provider-node" });
  ipfs = await startIpfsNode({ repoDir: join(dir, "ipfs"), apiPort: 0, gatewayPort: 0, logger: silentIpfsLogger });
  storage = createKuboStorage({ url: ipfs.apiUrl });
});

after(async () => {
  await Promise.allSettled(nodes.map((n) => n.stop()));
  await ipfs?.stop();
  await chain?.stop();
  await rm(dir, { recursive: true, force: true });
  // The test's own Ignition deployment record (the chain it describes is gone).
  await rm(join(import.meta.dirname, "../../ignition/deployments/test-provider-node"), { recursive: true, force: true });
});

/** A one-frame, 2×1-tile builtin manifest of the sample scene at `sceneCid`, added to IPFS. */
async function builtinManifest(sceneCid: string, size: { width: number; height: number }, seed: number, mode: "exact" | "tolerant") {
  const manifest = parseManifest({
    version: 1,
    engine: { name: "builtin", version: BUILTIN_VERSION },
    scene: { cid: sceneCid, entry: "scene.json", sizeBytes: (await readFile(SCENE)).length },
    output: { ...size, format: "png" },
    frames: { start: 1, end: 1 },
    settings: { samples: 2, seed, maxBounces: 2 },
    segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
    verification: { mode },
  });
  return { manifest, manifestCid: await storage.addBytes(encodeManifest(manifest)) };
}

/** Posts a 2-segment job of `manifest` at r = q = 2 (1 token per replica, 2 of collateral), `mode` over those terms. */
async function postJob(requester: Awaited<ReturnType<typeof client>>, manifest: Manifest, manifestCid: string, mode: Partial<Pick<JobParams, "verification" | "toleranceBps" | "redundancy" | "quorum" | "auditBps">> = {}): Promise<bigint> {
  const now = await requester.latestTimestamp();
  const { jobId } = await requester.createJob({
    manifestCid,
    segmentCount: segmentCount(manifest),
    redundancy: 2,
    quorum: 2,
    rewardPerReplica: 1n * TOKEN,
    collateralPerReplica: 2n * TOKEN,
    leaseDuration: 300,
    revealWindow: 300,
    deadline: now + 3_600n,
    minReputation: 0,
    maxFeeBps: 1_000,
    ...mode,
  });
  return jobId;
}

/** Waits (60 s at most) until both nodes hold two accepted replicas of the job, their results published (added to IPFS once accepted). */
async function untilSettled(jobId: bigint): Promise<void> {
  const settled = (node: ProviderNode) => node.store.listReplicas({ jobId }).filter((r) => r.state === "accepted" && r.published).length === 2;
  const deadline = Date.now() + 60_000;
  while (!nodes.every(settled)) {
    if (Date.now() > deadline) {
      throw new Error(`not settled: ${nodes.map((n) => n.store.listReplicas({ jobId }).map((r) => `${r.segment}:${r.state}:${r.lastError ?? ""}`).join(",")).join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("two provider nodes settle a builtin job at redundancy 2 on a real chain", { timeout: 90_000 }, async () => {
  const deployer = await client(DEVNET_ROLES.deployer);
  const requester = await client(DEVNET_ROLES.requester);
  const providers = [DEVNET_ROLES.firstProvider, DEVNET_ROLES.firstProvider + 1];
  await deployer.transferToken(requester.account!, 1_000n * TOKEN);
  for (const index of providers) {
    const p = await client(index);
    await deployer.transferToken(p.account!, 100n * TOKEN);
    await p.register(`bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy`);
    await p.approve(deployed.registry, 50n * TOKEN);
    await p.stake(50n * TOKEN);
  }

  // The requester: scene and manifest on IPFS, then the job.
  const sceneDir = await mkdtemp(join(dir, "scene-"));
  await writeFile(join(sceneDir, "scene.json"), await readFile(SCENE));
  const sceneCid = await storage.addFolder(sceneDir);
  const { manifest, manifestCid } = await builtinManifest(sceneCid, { width: 24, height: 16 }, 7, "exact");
  await requester.approve(deployed.market, 100n * TOKEN);
  const jobId = await postJob(requester, manifest, manifestCid);

  for (const [i, index] of providers.entries()) {
    const config = resolveConfig({
      rpcUrl: chain.rpcUrl,
      ipfsApiUrl: ipfs.apiUrl,
      contracts: { market: deployed.market, registry: deployed.registry, token: deployed.token },
      dataDir: join(dir, `provider-${i}`),
      engines: ["builtin"],
      benchmarkScore: 50,
      withdrawThreshold: "0.5",
      logLevel: "silent",
      http: { enabled: true, port: 0 },
      limits: { cpuThreads: 1, maxConcurrentSegments: 2 },
    });
    const logger = process.env.TEST_LOG ? createLogger(process.env.TEST_LOG).child({ node: i }) : silentLogger;
    nodes.push(await startProviderNode(config, { account: devnetAccount(index), storage, logger }));
  }

  await untilSettled(jobId);

  // Both replicas of each segment agreed on the digest of the PNGs they uploaded.
  for (let segment = 0; segment < 2; segment++) {
    const rows = nodes.map((n) => n.store.listReplicas({ jobId }).find((r) => r.segment === segment)!);
    assert.equal(rows[0].digest, rows[1].digest);
    const png = await storage.cat(`${rows[0].resultCid}/${resultFileName(1)}`);
    assert.equal(roundDigest(pngDigest([png]), 0), rows[0].digest, "the uploaded result has the committed digest (link 0 of its chain: no tie-breaker here)");
  }
  // Paid, withdrawn, collateral back.
  for (const [i, node] of nodes.entries()) {
    assert.equal(node.store.earnings().credited.Reward, 2n * TOKEN);
    const p = await client(providers[i]);
    const deadlineW = Date.now() + 20_000;
    while ((await p.marketBalanceOf(node.address)) !== 0n && Date.now() < deadlineW) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await p.marketBalanceOf(node.address), 0n, "earnings withdrawn above the threshold");
    assert.equal(await p.tokenBalanceOf(node.address), 52n * TOKEN);
    assert.equal(await p.freeStake(node.address), 50n * TOKEN);
    const status = await (await fetch(`${node.apiUrl}/status`)).json();
    assert.equal(status.chain.record.accepted, 2);
    assert.equal(status.chain.freeStake, "50");
  }
});

test("the same nodes settle a tolerant job: each replica commits to and reveals its result's fingerprint", { timeout: 90_000 }, async () => {
  assert.equal(nodes.length, 2, "runs after the exact job's test, on its nodes");
  const requester = await client(DEVNET_ROLES.requester);
  const sceneCid = await storage.addFolder(join(import.meta.dirname, "../../scenes/builtin-sample"));
  const { manifest, manifestCid } = await builtinManifest(sceneCid, { width: 32, height: 24 }, 9, "tolerant");
  assert.equal(manifest.verification.toleranceBps, DEFAULT_TOLERANCE_BPS);
  const jobId = await postJob(requester, manifest, manifestCid, { verification: Verification.Tolerant, toleranceBps: DEFAULT_TOLERANCE_BPS });
  await untilSettled(jobId);
  const events = await requester.events(0n, await requester.blockNumber());
  for (let segment = 0; segment < 2; segment++) {
    const rows = nodes.map((n) => n.store.listReplicas({ jobId }).find((r) => r.segment === segment)!);
    const png = await storage.cat(`${rows[0]!.resultCid}/${resultFileName(1)}`);
    assert.equal(rows[0]!.fingerprint, fingerprint([decodePng(png)]), "the committed fingerprint is the uploaded result's");
    assert.equal(rows[0]!.fingerprint, rows[1]!.fingerprint, "the builtin engine renders the same pixels on both nodes");
    // The first to seal commits (the last reveals directly, without a commitment).
    const committed = rows.map((row, i) => ({ row, node: nodes[i]! })).filter(({ row }) => row.commitment !== null);
    assert.ok(committed.length > 0);
    for (const { row, node } of committed) {
      assert.equal(row.commitment, commitmentOf(row.digest!, row.salt!, node.address, jobId, segment, row.fingerprint!), "the commitment covers the fingerprint");
    }
  }
  const revealed = eventsNamed(events, "ReplicasRevealed").filter((e) => e.args.jobId === jobId);
  assert.ok(revealed.length > 0 && revealed.every((e) => e.args.fingerprints.every((f) => f.length === 2 + 2 * 256)), "every reveal carried a 256-byte fingerprint");
});

test("an audited job (r = 1, every segment audited): each segment's auditor is the other node, which re-renders it in a blind round; both are paid", { timeout: 120_000 }, async () => {
  assert.equal(nodes.length, 2, "runs after the exact job's test, on its nodes");
  const requester = await client(DEVNET_ROLES.requester);
  const sceneCid = await storage.addFolder(join(import.meta.dirname, "../../scenes/builtin-sample"));
  const { manifest, manifestCid } = await builtinManifest(sceneCid, { width: 24, height: 16 }, 11, "exact");
  const before = nodes.map((n) => n.store.earnings().credited.Reward ?? 0n);
  const jobId = await postJob(requester, manifest, manifestCid, { redundancy: 1, quorum: 1, auditBps: 10_000 });
  // Each node holds two accepted replicas: its originals and its audits of the other node's segments.
  await untilSettled(jobId);
  const events = await requester.events(0n, await requester.blockNumber());
  const ofJob = <T extends { args: { jobId: bigint } }>(list: T[]) => list.filter((e) => e.args.jobId === jobId);
  assert.equal(ofJob(eventsNamed(events, "SegmentVerifying")).length, 2, "nobody was paid at the quorum");
  assert.equal(ofJob(eventsNamed(events, "AuditOpened")).length, 2, "the nodes drew both audits (auditBps 10,000)");
  for (const e of ofJob(eventsNamed(events, "SegmentAccepted"))) assert.equal(e.args.agreeing, 0b11, "the auditor agreed with the original");
  for (const [i, node] of nodes.entries()) {
    assert.equal((node.store.earnings().credited.Reward ?? 0n) - before[i]!, 2n * TOKEN, "paid for two replicas (originals and audits)");
  }
  for (let segment = 0; segment < 2; segment++) {
    const rows = nodes.map((n) => n.store.listReplicas({ jobId }).find((r) => r.segment === segment)!);
    assert.equal(rows[0]!.digest === rows[1]!.digest, false, "the auditor revealed a deeper link of the same pixels' chain");
  }
});

test("the CLI registers (benchmark + profile on IPFS), stakes, reports, withdraws and unstakes", { timeout: 60_000 }, async () => {
  const index = DEVNET_ROLES.firstProvider + 2;
  const deployer = await client(DEVNET_ROLES.deployer);
  await deployer.transferToken(devnetAccount(index).address, 20n * TOKEN);
  const env = {
    ...process.env,
    TESSELLATE_PRIVATE_KEY: devnetPrivateKey(index),
    TESSELLATE_RPC_URL: chain.rpcUrl,
    TESSELLATE_MARKET_ADDRESS: deployed.market,
    TESSELLATE_REGISTRY_ADDRESS: deployed.registry,
    TESSELLATE_TOKEN_ADDRESS: deployed.token,
    TESSELLATE_IPFS_API_URL: ipfs.apiUrl,
    TESSELLATE_DATA_DIR: join(dir, "cli-provider"),
    TESSELLATE_ENGINES: "builtin",
    TESSELLATE_CPU_THREADS: "1",
  };
  const cli = async (...args: string[]) => (await promisify(execFile)(process.execPath, [join(import.meta.dirname, "cli.ts"), ...args], { env })).stdout;

  assert.match(await cli("register"), /^builtin +\S+ +score +[\d.]+[\s\S]*registered 0x[0-9a-fA-F]{40}: profile (\S+) \(tx 0x/m);
  const p = await client(index);
  assert.equal((await p.providerOf(p.account!)).registered, true);
  assert.match(await cli("stake", "5"), /staked 5 tokens .* stake now 5 tokens, free 5 tokens/);
  const status = JSON.parse(await cli("status", "--chain"));
  assert.equal(status.registered, true);
  assert.equal(status.stake, "5");
  assert.equal(status.walletBalance, "15");
  assert.match(await cli("withdraw"), /nothing to withdraw/);
  assert.match(await cli("unstake", "2"), /requested unstake of 2 tokens .* 2 tokens unbonding, withdrawable after \d{4}-/);
  assert.match(await cli("register"), /updated the profile of/);

  // `run`: the daemon answers on its API and stops cleanly on SIGTERM.
  const daemon = spawn(process.execPath, [join(import.meta.dirname, "cli.ts"), "run", "--http-port", "0", "--log-level", "warn"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  daemon.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!/API on (http:\S+)/.test(stdout)) {
    if (Date.now() > deadline || daemon.exitCode !== null) throw new Error(`daemon did not start: ${stdout}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const apiUrl = /API on (http:\S+)/.exec(stdout)![1];
  const health = await (await fetch(`${apiUrl}/health`)).json();
  assert.equal(health.address, devnetAccount(index).address);
  const exited = new Promise<number | null>((resolve) => daemon.once("exit", (code) => resolve(code)));
  daemon.kill("SIGTERM");
  assert.equal(await exited, 0, "graceful stop exits 0");
});
