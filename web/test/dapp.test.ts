/**
 * The dApp end to end, in Debian's Chromium (playwright-core) against `next build && next start`
 * and a real devnet chain with the protocol deployed by its Ignition module. A wallet injected
 * through EIP-6963 signs in this process (test/testWallet.ts). Every test fails on a console
 * error or on a request to a host outside the loopback. Screenshots of every page go to
 * web/test-artifacts/.
 *
 * Set TESSELLATE_WEB_BUILT=1 to reuse an existing `next build` (web/.next) while iterating.
 */
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, globSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createPublicClient, createWalletClient, decodeFunctionData, http, parseUnits, type Abi, type Address, type Hex } from "viem";
import { hardhat } from "viem/chains";
import { jobMarketAbi, providerRegistryAbi, renderTokenAbi } from "@tessellate/sdk/contracts.generated";
import { build as esbuild } from "esbuild";
import { AbandonReason, canonicalJson, commitmentOf, fingerprint, connectChain, createMarketClient, decodePng, encodePng, encodeManifest, pixelDigest, pngDigest, jobMarketConstants, randomSalt, validateManifest, Verification, type RgbaImage } from "@tessellate/sdk";
import { createKuboStorage } from "@tessellate/sdk/node";
import { writeRawPng } from "@tessellate/sdk/testing/rawPng";
import { startIpfsNode, type IpfsNode } from "@tessellate/ipfs-node";
import { BUILTIN_VERSION } from "@tessellate/provider-node/engines/builtin/index";
import { startChain, deployProtocol, stopProcess, type DeployedProtocol, type RunningChain } from "../../scripts/devnet/chain.ts";
import { DEVNET_MNEMONIC, devnetAccount, devnetPrivateKey, DEVNET_ROLES } from "../../scripts/devnet/accounts.ts";
import { testPort } from "../../scripts/devnet/ports.ts";
import { formatAmount } from "../lib/format.ts";
import { installTestWallet, TEST_WALLET_RDNS } from "./testWallet.ts";

const WEB = join(import.meta.dirname, "..");
// npm may install next under web/node_modules or hoist it to the root: resolve it as web does.
const NEXT = createRequire(join(WEB, "package.json")).resolve("next/dist/bin/next");
const ARTIFACTS = join(WEB, "test-artifacts");
const CHAIN_ID = 31337;
const TEST_WALLET_ACCOUNT = 6; // a devnet account no other role uses
const PICKER_ACCOUNT = DEVNET_ROLES.firstProvider; // "Devnet provider 1" in the picker
const SWITCH_ACCOUNTS = [7, 8]; // the account-switch test's two wallet accounts
const PROFILE_PROVIDER = 9; // registered with a real profile advertising the builtin engine
const NEW_JOB_ACCOUNT = 10; // posts a job through the New job page
const SETTLING_PROVIDERS = [11, 12]; // claim, commit and reveal a small job by hand, so the Job page can composite it
const TOLERANT_PROVIDERS = [14, 15]; // settle a tolerant job by hand, their renders a pixel apart
const PLAIN_TOKEN_POSTER = 13; // posts a job on the second market, whose token has no permit
const SAMPLE_SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");
const UNBONDING_DELAY = 3600; // deployProtocol's default

let chain: RunningChain;
let protocol: DeployedProtocol;
let web: ChildProcess;
let webUrl: string;
let browser: Browser;
let ipfs: IpfsNode;
let symbol: string;
/** Each test provider's profile CID, by devnet account index (uploaded by seedChain). */
const profileCids = new Map<number, string>();
let decimals: number;
const chainReader = () => createPublicClient({ transport: http(chain.rpcUrl) });


async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(chain.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** Tokens for the test accounts and one job on the market, so the pages have something to show. */
async function seedChain() {
  const transport = http(chain.rpcUrl);
  const publicClient = createPublicClient({ transport });
  const deployer = createWalletClient({ transport, account: devnetAccount(DEVNET_ROLES.deployer), chain: hardhat });
  const requester = createWalletClient({ transport, account: devnetAccount(DEVNET_ROLES.requester), chain: hardhat });
  decimals = await publicClient.readContract({ address: protocol.token, abi: renderTokenAbi, functionName: "decimals" });
  symbol = await publicClient.readContract({ address: protocol.token, abi: renderTokenAbi, functionName: "symbol" });
  const send = async (hash: `0x${string}`) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    assert.equal(receipt.status, "success");
  };
  for (const index of [TEST_WALLET_ACCOUNT, PICKER_ACCOUNT, DEVNET_ROLES.requester, ...SWITCH_ACCOUNTS, NEW_JOB_ACCOUNT, ...SETTLING_PROVIDERS]) {
    await send(
      await deployer.writeContract({
        address: protocol.token,
        abi: renderTokenAbi,
        functionName: "transfer",
        args: [devnetAccount(index).address, parseUnits("1000", decimals)],
      }),
    );
  }
  await send(
    await requester.writeContract({
      address: protocol.token,
      abi: renderTokenAbi,
      functionName: "approve",
      args: [protocol.market, parseUnits("1000", decimals)],
    }),
  );
  const block = await publicClient.getBlock();
  // A real manifest on the test's IPFS node (4 segments: 2×2 tiles of one frame), so every page can read it.
  const seedStorage = createKuboStorage({ url: ipfs.apiUrl });
  const seedManifest = validateManifest({
    version: 1,
    engine: { name: "builtin", version: BUILTIN_VERSION },
    scene: { cid: await seedStorage.addFolder(SAMPLE_SCENE), entry: "scene.json", sizeBytes: 1 },
    output: { width: 64, height: 48, format: "png" },
    frames: { start: 1, end: 1 },
    settings: { samples: 4, seed: 1, maxBounces: 2 },
    segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 1 },
    verification: { mode: "exact" },
  });
  assert.ok(seedManifest.ok);
  await send(
    await requester.writeContract({
      address: protocol.market,
      abi: jobMarketAbi,
      functionName: "createJob",
      args: [
        {
          manifestCid: await seedStorage.addBytes(encodeManifest(seedManifest.manifest)),
          segmentCount: 4,
          redundancy: 2,
          quorum: 2,
          rewardPerReplica: parseUnits("1", decimals),
          collateralPerReplica: parseUnits("2", decimals),
          leaseDuration: 300,
          revealWindow: 120,
          deadline: block.timestamp + 3600n,
          minReputation: 0,
          maxFeeBps: 1_000,
          verification: 0,
          toleranceBps: 0,
          auditBps: 0,
        },
      ],
    }),
  );
  // Providers' profiles (on the test's IPFS node) advertising the builtin engine, as a provider node publishes them;
  // every provider the tests register has one, so no page asks the gateway for a profile that is not there.
  for (const index of [PROFILE_PROVIDER, TEST_WALLET_ACCOUNT, PICKER_ACCOUNT, ...SETTLING_PROVIDERS]) {
    const cid = await createKuboStorage({ url: ipfs.apiUrl }).addBytes(
      new TextEncoder().encode(
        canonicalJson({
          version: 1,
          address: devnetAccount(index).address,
          engines: [{ name: "builtin", version: BUILTIN_VERSION, score: 800, seconds: 1 }],
          benchmarkScore: 800,
          // One provider says which CPU kernel class it renders with; the others' profiles are older (unknown).
          ...(index === PROFILE_PROVIDER ? { hardware: { cpus: 2, cpuModel: "test", memoryBytes: 1, cpuKernel: "AVX2" } } : {}),
        }),
      ),
    );
    profileCids.set(index, cid);
  }
  const profileCid = profileCids.get(PROFILE_PROVIDER)!;
  const provider = createWalletClient({ transport, account: devnetAccount(PROFILE_PROVIDER), chain: hardhat });
  await send(await provider.writeContract({ address: protocol.registry, abi: providerRegistryAbi, functionName: "register", args: [profileCid] }));
}

/** `next start` on `port` against the test chain and IPFS node; `extraEnv` adds to its runtime config. */
async function startWeb(port: number, extraEnv: Record<string, string> = {}): Promise<{ process: ChildProcess; url: string }> {
  const env = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    TESSELLATE_RPC_URL: chain.rpcUrl,
    TESSELLATE_CHAIN_ID: String(CHAIN_ID),
    TESSELLATE_TOKEN_ADDRESS: protocol.token,
    TESSELLATE_REGISTRY_ADDRESS: protocol.registry,
    TESSELLATE_MARKET_ADDRESS: protocol.market,
    TESSELLATE_IPFS_API_URL: `http://127.0.0.1:${testPort(8753)}`,
    TESSELLATE_IPFS_GATEWAY_URL: `http://127.0.0.1:${testPort(8754)}`,
    ...extraEnv,
  };
  const server = spawn(process.execPath, [NEXT, "start", "--hostname", "127.0.0.1", "--port", String(port)], { cwd: WEB, env, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  server.stdout!.on("data", (c: Buffer) => output.push(c.toString()));
  server.stderr!.on("data", (c: Buffer) => output.push(c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`next start exited (${server.exitCode}):\n${output.join("")}`);
    try {
      const response = await fetch(`${url}/api/config`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return { process: server, url };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopProcess(server);
      throw new Error(`next start did not answer on ${url} within 60 s:\n${output.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The scripts a page loads, with their text, to tell which code reached the browser. */
function recordScripts(page: Page): () => Promise<{ url: string; text: string }[]> {
  const scripts: Promise<{ url: string; text: string }>[] = [];
  page.on("response", (response) => {
    if (response.request().resourceType() === "script") scripts.push(response.text().then((text) => ({ url: response.url(), text }), () => ({ url: response.url(), text: "" })));
  });
  return () => Promise.all(scripts);
}

/** A string only WalletConnect's provider code holds (its relay's host): the build has it in chunks loaded on demand. */
const WALLETCONNECT_MARK = "relay.walletconnect.org";

/** A fresh browser context that records console errors and blocks (and records) any non-loopback request. */
async function openContext(options: { width?: number; height?: number } = {}) {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
  const problems: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]") return route.continue();
    problems.push(`request outside the loopback: ${route.request().url()}`);
    return route.abort("blockedbyclient");
  });
  const watch = (page: Page) => {
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  };
  context.on("page", watch);
  return { context, problems, watch };
}

const byTestId = (page: Page, id: string, text?: string | RegExp) =>
  text === undefined ? page.locator(`[data-testid="${id}"]`) : page.locator(`[data-testid="${id}"]`, { hasText: text });

/** Waits until the element shows exactly `text` (polling reads update it within a second or two). */
async function waitForText(page: Page, id: string, text: string, timeout = 30_000) {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  try {
    await byTestId(page, id, new RegExp(`^${escaped}$`)).waitFor({ timeout });
  } catch (error) {
    const shown = await byTestId(page, id).allTextContents();
    throw new Error(`[data-testid=${id}] did not show "${text}" within ${timeout} ms; it shows ${JSON.stringify(shown)}`, { cause: error });
  }
}

/** A market client signing as devnet account `index`. */
async function marketClientOf(index: number) {
  return createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses: protocol, account: devnetAccount(index) }));
}

/** Posts a job of two replicas (quorum 2) at 1 token each, a 5 min lease, a 2 min reveal window and an hour to go; its id. */
async function postTestJob(requester: Awaited<ReturnType<typeof marketClientOf>>, terms: { manifestCid: string; segmentCount: number; verification?: Verification; toleranceBps?: number }): Promise<bigint> {
  const created = await requester.createJob({
    redundancy: 2,
    quorum: 2,
    rewardPerReplica: parseUnits("1", decimals),
    collateralPerReplica: parseUnits("1", decimals),
    leaseDuration: 300,
    revealWindow: 120,
    deadline: (await chainReader().getBlock()).timestamp + 3600n,
    minReputation: 0,
    maxFeeBps: 100,
    ...terms,
  });
  return created.jobId;
}

/** Each tile as a result folder (frame-000001.png) on the test's IPFS node; their CIDs. */
async function addResultFolders(tiles: RgbaImage[]): Promise<string[]> {
  const storage = createKuboStorage({ url: ipfs.apiUrl });
  const cids: string[] = [];
  for (const tile of tiles) {
    const dir = mkdtempSync(join(tmpdir(), "tessellate-web-result-"));
    writeFileSync(join(dir, "frame-000001.png"), encodePng(tile));
    cids.push(await storage.addFolder(dir));
  }
  return cids;
}

/** A one-frame builtin manifest over the sample scene, one row of `tilesX` tiles, on the test's IPFS node; its CID. */
async function addOneFrameManifest(o: { width: number; height: number; tilesX: number; verification: { mode: "exact" } | { mode: "tolerant"; toleranceBps: number } }): Promise<string> {
  const storage = createKuboStorage({ url: ipfs.apiUrl });
  const manifest = validateManifest({
    version: 1,
    engine: { name: "builtin", version: BUILTIN_VERSION },
    scene: { cid: await storage.addFolder(SAMPLE_SCENE), entry: "scene.json", sizeBytes: 1 },
    output: { width: o.width, height: o.height, format: "png" },
    frames: { start: 1, end: 1 },
    settings: { samples: 1, seed: 1, maxBounces: 0 },
    segmentation: { tilesX: o.tilesX, tilesY: 1, framesPerSegment: 1 },
    verification: o.verification,
  });
  assert.ok(manifest.ok, JSON.stringify(manifest));
  return storage.addBytes(encodeManifest(manifest.manifest));
}

/** Connects the page to the injected test wallet through the connect menu. */
async function connectTestWallet(page: Page, address: Address) {
  await byTestId(page, "connect").click();
  await byTestId(page, `wallet-${TEST_WALLET_RDNS}`).click();
  await waitForText(page, "connected-account", `${address.slice(0, 6)}…${address.slice(-4)}`);
}

/** Waits until a posted job's page is shown (the New job page moves there once createJob is confirmed). */
async function waitForJobPage(page: Page, jobId: bigint) {
  try {
    await page.waitForURL(new RegExp(`/job/${jobId}$`), { timeout: 90_000 });
  } catch (error) {
    throw new Error(`the page did not move to /job/${jobId}; it shows: ${await page.locator("main").innerText()}`, { cause: error });
  }
  await waitForText(page, "job-status", "Open");
}

/** Fills the New job page's fields, by name (`field-<name>`). */
async function fillFields(page: Page, values: Record<string, string>) {
  for (const [field, value] of Object.entries(values)) await byTestId(page, `field-${field}`).fill(value);
}

async function waitForStep(page: Page, tx: string, step: string, timeout = 30_000) {
  const locator = page.locator(`[data-testid="tx-${tx}"][data-step="${step}"]`);
  try {
    await locator.waitFor({ timeout });
  } catch (error) {
    const shown = await page.locator(`[data-testid="tx-${tx}"]`).allTextContents();
    throw new Error(`transaction "${tx}" did not reach "${step}" within ${timeout} ms; it shows ${JSON.stringify(shown)}`, { cause: error });
  }
}

/** The screenshots this run took, by name. */
const taken = new Set<string>();

async function screenshot(page: Page, name: string) {
  taken.add(name);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

describe("dApp in Chromium against next start and a devnet chain", { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    if (process.env.TESSELLATE_WEB_BUILT !== "1") {
      const build = spawnSync(process.execPath, [NEXT, "build"], { cwd: WEB, env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" }, encoding: "utf8" });
      assert.equal(build.status, 0, `next build failed:\n${build.stdout}\n${build.stderr}`);
    }
    chain = await startChain({ port: testPort(8751) });
    // The IPFS node allows the dApp's origin, as `npm start` configures it.
    ipfs = await startIpfsNode({
      repoDir: mkdtempSync(join(tmpdir(), "tessellate-web-ipfs-")),
      apiPort: testPort(8753),
      gatewayPort: testPort(8754),
      corsOrigins: [`http://127.0.0.1:${testPort(8752)}`, `http://127.0.0.1:${testPort(8756)}`], // the second, the plain-token market's page
    });
    protocol = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: "web-e2e", parameters: { unbondingDelay: BigInt(UNBONDING_DELAY) } });
    await seedChain();
    ({ process: web, url: webUrl } = await startWeb(testPort(8752)));
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  });

  after(async () => {
    await browser?.close();
    if (web) await stopProcess(web);
    await ipfs?.stop();
    await chain?.stop();
  });

  let session: Awaited<ReturnType<typeof openContext>>;
  beforeEach(async () => {
    session = await openContext();
  });
  afterEach(async () => {
    await session.context.close();
    assert.deepEqual(session.problems, [], "the page logged errors or reached outside the loopback");
  });

  it("serves its runtime config from the server, with devnet accounts only on chain 31337", async () => {
    const response = await fetch(`${webUrl}/api/config`);
    const body = (await response.json()) as { ok: boolean; config: { chainId: number; rpcUrl: string; addresses: Record<string, Address>; pollingIntervalMs: number; devAccounts?: { address: Address }[] } };
    assert.equal(body.ok, true);
    assert.equal(body.config.chainId, CHAIN_ID);
    assert.equal(body.config.rpcUrl, chain.rpcUrl);
    assert.equal(body.config.addresses.market, protocol.market);
    assert.ok(body.config.pollingIntervalMs >= 500 && body.config.pollingIntervalMs <= 1000, `local polling ${body.config.pollingIntervalMs} ms`);
    assert.equal(body.config.devAccounts?.[PICKER_ACCOUNT]?.address, devnetAccount(PICKER_ACCOUNT).address);
  });

  it("ships no devnet key or mnemonic in the browser's bundles (they come from the server config on 31337 only)", () => {
    const bundles = globSync(join(WEB, ".next/static/**/*.js"));
    assert.ok(bundles.length > 0, "no client bundle found under web/.next/static");
    const secrets = [DEVNET_MNEMONIC, devnetPrivateKey(0).slice(2), devnetPrivateKey(PICKER_ACCOUNT).slice(2)];
    for (const file of bundles) {
      const text = readFileSync(file, "utf8");
      for (const secret of secrets) assert.ok(!text.includes(secret), `${file} contains a devnet secret`);
    }
  });

  it("posts a builtin job through the New job page (fields explained inline, the CLI's CIDs, the job on chain as entered), follows it on the Job page, cancels it and withdraws the refund", async () => {
    const { context } = session;
    const wallet = await installTestWallet(context, { privateKey: devnetPrivateKey(NEW_JOB_ACCOUNT), rpcUrl: chain.rpcUrl, chainId: CHAIN_ID });
    const page = await context.newPage();
    await page.goto(`${webUrl}/job/new`);
    await connectTestWallet(page, wallet.address);

    // Engines and versions come from what registered providers advertise.
    await byTestId(page, "field-engine").locator("option", { hasText: "builtin — 1 provider" }).waitFor({ state: "attached" });
    await byTestId(page, "field-engineVersion").locator("option", { hasText: `${BUILTIN_VERSION} — offered by 1 provider` }).waitFor({ state: "attached" });
    assert.equal(await byTestId(page, "field-engineVersion").inputValue(), BUILTIN_VERSION);

    // The scene folder, as `webkitdirectory` gives it (the folder's own name is not part of its CID).
    await byTestId(page, "scene-folder").setInputFiles(SAMPLE_SCENE);
    await waitForText(page, "scene-entry", "scene.json");

    // Every invalid field is explained before anything is sent; the post button stays disabled.
    await byTestId(page, "field-reward").fill("2");
    await byTestId(page, "field-collateral").fill("1");
    await byTestId(page, "field-quorum").fill("1");
    await byTestId(page, "field-tilesX").fill("500");
    await byTestId(page, "field-verification").selectOption("tolerant");
    await byTestId(page, "field-tolerance").fill(String(jobMarketConstants.MAX_TOLERANCE_BPS + 1));
    await byTestId(page, "field-leaseSeconds").fill("20");
    await byTestId(page, "problem-leaseSeconds", "must be from 30 s (this market's minimum lease)").waitFor();
    await byTestId(page, "problem-collateral", "less than the reward").waitFor();
    await byTestId(page, "problem-quorum", "majority").waitFor();
    await byTestId(page, "problem-tilesX", "segmentation.tilesX:").waitFor();
    await byTestId(page, "problem-tolerance", `must be an integer from 1 to ${jobMarketConstants.MAX_TOLERANCE_BPS}`).waitFor();
    assert.equal(await byTestId(page, "submit-job").isDisabled(), true, "an invalid job could be posted");
    await screenshot(page, "new-job-invalid");

    // A valid job: 160×120, frames 1–2, 2×2 tiles → 8 segments; 2 replicas, quorum 2.
    await byTestId(page, "field-verification").selectOption("exact");
    // Exact jobs may be audited: the rate is checked as the contract does (here, out of range), then set to 0.
    await byTestId(page, "field-audit").fill("10001");
    await byTestId(page, "problem-audit", "must be an integer from 0 to 10000").waitFor();
    await byTestId(page, "field-audit").fill("0");
    await fillFields(page, { tilesX: "2", quorum: "2", collateral: "4", frameEnd: "2", leaseSeconds: "240", revealWindowSeconds: "90", deadlineHours: "3" });
    // Left empty, the rate and the collateral are job submit's defaults, which this network (too
    // few providers for an audit's dispute to finish) turns off, saying why.
    await fillFields(page, { audit: "", collateral: "" });
    await byTestId(page, "hint-audit", /^Empty: the default, no audits for this job — \d+ registered providers? can take this job; an audit and its escalation need 5/).waitFor();
    await byTestId(page, "hint-collateral", /^Empty: 4 \S+, 2 × the reward without audits/).waitFor();
    await fillFields(page, { audit: "0", collateral: "4" });
    await byTestId(page, "plan-summary", /^8 segments = 4 tiles \(2×2\) × 2 frame groups/).waitFor();
    assert.equal(await byTestId(page, "plan-tile").count(), 4);
    const reward = parseUnits("2", decimals);
    const feeBps = await chainReader().readContract({ address: protocol.market, abi: jobMarketAbi, functionName: "feeBps" });
    const escrow = 8n * 2n * (reward + (reward * BigInt(feeBps)) / 10_000n);
    await waitForText(page, "cost-escrow", formatAmount(escrow, decimals, symbol));
    await byTestId(page, "estimate", "Estimate (not a quote)").waitFor();
    assert.equal(await page.locator('[data-testid^="problem-"]').count(), 0, "a valid form still shows a problem");
    await screenshot(page, "new-job");

    // RenderToken has EIP-2612: the page pays with a permit signature, not an approve transaction.
    const poster = devnetAccount(NEW_JOB_ACCOUNT).address;
    const txsBefore = await chainReader().getTransactionCount({ address: poster });
    // The person rejects the permit signature first: the page says so, and no transaction is sent.
    wallet.rejectNext();
    await byTestId(page, "submit-job", "Upload, sign a permit and post").click();
    await page.locator('[data-testid="submit-error"]').waitFor({ timeout: 60_000 });
    await waitForText(page, "submit-error", "You rejected the permit signature in your wallet; nothing was sent.");
    await byTestId(page, "uploaded").waitFor(); // the upload itself went through and is kept for the next try
    assert.ok(wallet.requests.includes("eth_signTypedData_v4"), "the page did not ask for a permit signature");
    assert.equal(wallet.sent(), 0, "a transaction was sent after the rejected permit");
    assert.equal(await chainReader().getTransactionCount({ address: poster }), txsBefore);
    assert.equal(await chainReader().readContract({ address: protocol.market, abi: jobMarketAbi, functionName: "jobCount" }), 1n, "a job was created without a permit");
    await screenshot(page, "new-job-permit-rejected");
    // Then signs.
    await byTestId(page, "submit-job", "Upload, sign a permit and post").click();
    // Once createJob is confirmed the page moves to the job's page (its status line goes with it).
    await waitForJobPage(page, 2n);
    // One transaction, createJobWithPermit, and no approve: the allowance the permit set is spent.
    assert.equal(await chainReader().getTransactionCount({ address: poster }), txsBefore + 1, "the New job page sent more than one transaction");
    const [createdLog] = await chainReader().getContractEvents({ address: protocol.market, abi: jobMarketAbi, eventName: "JobCreated", args: { jobId: 2n }, fromBlock: 0n });
    const postTx = await chainReader().getTransaction({ hash: createdLog!.transactionHash });
    assert.equal(decodeFunctionData({ abi: jobMarketAbi, data: postTx.input }).functionName, "createJobWithPermit");
    assert.equal(await chainReader().readContract({ address: protocol.token, abi: renderTokenAbi, functionName: "allowance", args: [poster, protocol.market] }), 0n);
    assert.equal(await byTestId(page, "tx-approve-escrow").count(), 0);
    await waitForText(page, "job-segments", "0 of 8 touched");
    await waitForText(page, "job-verification", "Exact: every pixel equal");
    await waitForText(page, "job-audits", "none");
    await waitForText(page, "job-escrow", formatAmount(escrow, decimals, symbol));
    const manifestCid = (await byTestId(page, "job-manifest-cid").textContent()) ?? "";
    // The live part, from the sdk's event fold: 8 open segments over 2 frame groups, the creation in the timeline.
    await byTestId(page, "count-open", /open 8$/).waitFor();
    await byTestId(page, "segment-7").waitFor(); // the grids are drawn once the manifest is read from the gateway
    assert.equal(await page.locator('[data-testid^="segment-"][data-state="open"]').count(), 8);
    await byTestId(page, "event-JobCreated").waitFor();
    await byTestId(page, "segment-5").click();
    await byTestId(page, "segment-detail", "No replica has been claimed yet.").waitFor();
    await screenshot(page, "job");

    // The CIDs the CLI gets for the same files and the same choices.
    const storage = createKuboStorage({ url: ipfs.apiUrl });
    const sceneCid = await storage.addFolder(SAMPLE_SCENE);
    const sizeBytes = ["scene.json", "README.md"].reduce((sum, f) => sum + statSync(join(SAMPLE_SCENE, f)).size, 0);
    const expected = validateManifest({
      version: 1,
      engine: { name: "builtin", version: BUILTIN_VERSION },
      scene: { cid: sceneCid, entry: "scene.json", sizeBytes },
      output: { width: 160, height: 120, format: "png" },
      frames: { start: 1, end: 2 },
      settings: { samples: 16, seed: 1, maxBounces: 4 },
      segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 1 },
      verification: { mode: "exact" },
    });
    assert.ok(expected.ok);
    assert.equal(manifestCid, await storage.addBytes(encodeManifest(expected.manifest)), "the page's manifest CID differs from the sdk's for the same files");

    // The job on chain has the entered parameters.
    const job = await chainReader().readContract({ address: protocol.market, abi: jobMarketAbi, functionName: "jobOf", args: [2n] });
    assert.equal(job.requester, wallet.address);
    assert.equal(job.segmentCount, 8);
    assert.equal(job.redundancy, 2);
    assert.equal(job.quorum, 2);
    assert.equal(job.rewardPerReplica, reward);
    assert.equal(job.collateralPerReplica, parseUnits("4", decimals));
    assert.equal(job.leaseDuration, 240);
    assert.equal(job.revealWindow, 90);
    assert.equal(job.escrow, escrow);
    const now = (await chainReader().getBlock()).timestamp;
    assert.ok(job.deadline > now + 3n * 3600n - 120n && job.deadline <= now + 3n * 3600n + 60n, `deadline ${job.deadline} is not about 3 h after ${now}`);

    // Cancel from the job page: the untouched segments are refunded at once; withdraw the refund.
    await byTestId(page, "cancel-job").click();
    await waitForStep(page, "cancel-job", "confirmed");
    await waitForText(page, "job-status", "Cancelled");
    await byTestId(page, "count-closed", /closed 8$/).waitFor();
    await byTestId(page, "event-JobCancelled").waitFor();
    await waitForText(page, "market-balance", formatAmount(escrow, decimals, symbol));
    await byTestId(page, "withdraw").click();
    await waitForStep(page, "withdraw", "confirmed");
    await waitForText(page, "market-balance", `0 ${symbol}`);
    const tokens = await chainReader().readContract({ address: protocol.token, abi: renderTokenAbi, functionName: "balanceOf", args: [wallet.address] });
    assert.equal(tokens, parseUnits("1000", decimals), "the whole escrow came back to the requester's wallet");
    await screenshot(page, "job-cancelled");
  });

  it("the Job page composites a settled job, every tile's digest checked in the browser", async () => {
    // A 4×2 job of two 2×2 tiles, posted by the requester; two providers agree on semi-transparent tiles.
    const storage = createKuboStorage({ url: ipfs.apiUrl });
    const tiles: RgbaImage[] = [0, 1].map((t) => ({ width: 2, height: 2, data: new Uint8Array(Array.from({ length: 4 }, (_, p) => [200 - 100 * t, 40 * p, 90, 128]).flat()) }));
    const results = await addResultFolders(tiles);
    const manifestCid = await addOneFrameManifest({ width: 4, height: 2, tilesX: 2, verification: { mode: "exact" } });
    const requester = await marketClientOf(DEVNET_ROLES.requester);
    const jobId = await postTestJob(requester, { manifestCid, segmentCount: 2 });
    const reveals: { client: Awaited<ReturnType<typeof marketClientOf>>; slots: { segment: number; replica: number; salt: `0x${string}` }[] }[] = [];
    for (const index of SETTLING_PROVIDERS) {
      const provider = await marketClientOf(index);
      await provider.register(profileCids.get(index)!);
      await provider.approve(protocol.registry, parseUnits("10", decimals));
      await provider.stake(parseUnits("10", decimals));
      const claimed = await provider.claim(jobId, 2);
      assert.equal(claimed.slots.length, 2);
      const slots = claimed.slots.map((slot) => ({ segment: slot.segment, replica: slot.replica, salt: randomSalt() }));
      await provider.commit(
        jobId,
        slots.map((slot) => ({ ...slot, commitment: commitmentOf(pixelDigest([tiles[slot.segment]!]), slot.salt, devnetAccount(index).address, jobId, slot.segment) })),
      );
      reveals.push({ client: provider, slots });
    }
    const revealSegment = async (segment: number) => {
      for (const { client, slots } of reveals) {
        const slot = slots.find((x) => x.segment === segment)!;
        await client.reveal(jobId, [{ segment, replica: slot.replica, digest: pixelDigest([tiles[segment]!]), salt: slot.salt, resultCid: results[segment]! }]);
      }
    };

    // The page is open while the job settles: each accepted tile is drawn as it settles, digest-checked.
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/job/${jobId}`);
    await byTestId(page, "count-revealing", /revealing 2$/).waitFor({ timeout: 30_000 });
    await byTestId(page, "segment-0").click();
    await byTestId(page, "reveal-countdown", /^Reveal window ends in (2 min|1 min( \d+ s)?|\d+ s) \(0 of 2 revealed\)$/).waitFor();
    assert.equal(await page.locator('[data-testid^="tile-"]').count(), 0, "a tile was drawn before any segment was accepted");
    await revealSegment(0);
    await byTestId(page, "count-accepted", /accepted 1$/).waitFor({ timeout: 30_000 });
    await byTestId(page, "tile-0").waitFor({ timeout: 30_000 });
    assert.equal(await byTestId(page, "tile-1").count(), 0, "segment 1's tile was drawn before it was accepted");
    await screenshot(page, "job-settling");
    await revealSegment(1);
    await byTestId(page, "count-accepted", /accepted 2$/).waitFor({ timeout: 30_000 });
    await byTestId(page, "tile-1").waitFor({ timeout: 30_000 });
    await byTestId(page, "event-SegmentAccepted").first().waitFor();
    await byTestId(page, "segment-1").click();
    await byTestId(page, "replicas", "accepted").waitFor();
    // Each reveal re-checked in the browser against its commit transaction's calldata.
    for (const k of [0, 1]) await byTestId(page, `replica-commitment-${k}`, "re-checked: the reveal opens the commitment").waitFor({ timeout: 30_000 });
    await byTestId(page, "make-composite").click();
    await byTestId(page, "composite-ready", "Every tile matched the digest its quorum accepted (2 segments).").waitFor({ timeout: 30_000 });
    const href = await byTestId(page, "download-1").getAttribute("href");
    const png = await page.evaluate(async (url) => Array.from(new Uint8Array(await (await fetch(url!)).arrayBuffer())), href);
    const frame = decodePng(new Uint8Array(png));
    assert.deepEqual([frame.width, frame.height], [4, 2]);
    // Row 0: tile 0's first row then tile 1's first row, semi-transparent pixels exact (no canvas).
    assert.deepEqual([...frame.data.subarray(0, 16)], [...tiles[0]!.data.subarray(0, 8), ...tiles[1]!.data.subarray(0, 8)]);
    await screenshot(page, "job-composite");

    // The requester records an output folder holding a video: the Job page lists it and offers the video.
    const outDir = mkdtempSync(join(tmpdir(), "tessellate-web-output-"));
    writeFileSync(join(outDir, "frame-000001.png"), new Uint8Array(png));
    writeFileSync(join(outDir, `job-${jobId}.mp4`), new Uint8Array(64));
    const outputCid = await storage.addFolder(outDir);
    await requester.recordOutput(jobId, outputCid);
    await waitForText(page, "output-folder", outputCid);
    const videoSrc = await byTestId(page, "output-video").getAttribute("src");
    assert.equal(videoSrc, `http://127.0.0.1:${testPort(8754)}/ipfs/${outputCid}/job-${jobId}.mp4`);

    // A provider gives a slot of the seeded job back because of the scene: its page says why the segment is not progressing.
    const quitter = await marketClientOf(SETTLING_PROVIDERS[0]!);
    const claimed = await quitter.claim(1n, 1);
    const [slot] = claimed.slots;
    assert.ok(slot);
    await quitter.abandon(1n, [{ segment: slot.segment, replica: slot.replica }], AbandonReason.SceneFault, "scene.json: unknown material glass2");
    await page.goto(`${webUrl}/job/1`);
    await byTestId(page, `stuck-${slot.segment}`, "SceneFault").waitFor({ timeout: 30_000 });
    await byTestId(page, `stuck-${slot.segment}`, "scene.json: unknown material glass2").waitFor();
    await byTestId(page, "scene-refusals", "1 provider refused the scene itself").waitFor();
    await byTestId(page, `segment-${slot.segment}`).click();
    await byTestId(page, "given-back", "SceneFault — “scene.json: unknown material glass2”").waitFor();
    await screenshot(page, "job-given-back");
    // The other settling provider holds a replica of the seeded job now (the Provider page lists it).
    await (await marketClientOf(SETTLING_PROVIDERS[1]!)).claim(1n, 1);
  });

  it("the Provider page shows earnings, slashes, reputation counters with their events and held replicas, and the provider withdraws its earnings", async () => {
    const [quitterIndex, holderIndex] = SETTLING_PROVIDERS as [number, number];
    const quitter = devnetAccount(quitterIndex).address;
    const wallet = await installTestWallet(session.context, { privateKey: devnetPrivateKey(quitterIndex), rpcUrl: chain.rpcUrl, chainId: CHAIN_ID });
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/provider/${quitter}`);
    await connectTestWallet(page, wallet.address);
    // Two accepted replicas of job 3 at 1 token each; whatever the give-back forfeited, slashed from the stake.
    await byTestId(page, "credit-Reward", `2 ${symbol}`).waitFor({ timeout: 30_000 });
    const record = await chainReader().readContract({ address: protocol.registry, abi: providerRegistryAbi, functionName: "providerOf", args: [quitter] });
    await waitForText(page, "slashed", formatAmount(parseUnits("10", decimals) - record.staked, decimals, symbol));
    await byTestId(page, "counter-accepted").locator("summary").click();
    await byTestId(page, "counter-accepted", `Accepted replicas: ${record.accepted}`).waitFor();
    assert.equal(await byTestId(page, "counter-accepted-events-event").count(), record.accepted);
    assert.equal(record.accepted, 2);
    // A give-back for a scene fault is not counted as abandoned; it is listed apart, linked to its job.
    assert.equal(record.abandoned, 0);
    await byTestId(page, "counter-abandoned", "Given back: 0").waitFor();
    await byTestId(page, "counter-scene-faults").locator("summary").click();
    await byTestId(page, "counter-scene-faults-events-event", "ReplicaAbandoned").waitFor();
    assert.equal(await byTestId(page, "counter-scene-faults-events-event").locator('a[href="/job/1"]').count(), 1);
    await byTestId(page, "no-held").waitFor();
    await screenshot(page, "provider-earnings");

    const balance = await chainReader().readContract({ address: protocol.market, abi: jobMarketAbi, functionName: "balanceOf", args: [quitter] });
    assert.ok(balance > 0n);
    await waitForText(page, "earnings-balance", formatAmount(balance, decimals, symbol));
    await byTestId(page, "withdraw-earnings").click();
    await waitForStep(page, "withdraw-earnings", "confirmed");
    await waitForText(page, "earnings-balance", `0 ${symbol}`);
    await waitForText(page, "withdrawn", formatAmount(balance, decimals, symbol));

    // The other provider holds a replica of job 1 now.
    await page.goto(`${webUrl}/provider/${devnetAccount(holderIndex).address}`);
    await byTestId(page, "held-replicas").locator('[data-testid^="held-1-"]').first().waitFor({ timeout: 30_000 });
    assert.match((await byTestId(page, "held-replicas").innerText()) ?? "", /Claimed\s+ends in/);
  });

  it("a provider connects through EIP-6963, registers, stakes, unstakes and withdraws through the UI", async () => {
    const { context } = session;
    const wallet = await installTestWallet(context, { privateKey: devnetPrivateKey(TEST_WALLET_ACCOUNT), rpcUrl: chain.rpcUrl, chainId: CHAIN_ID });
    const page = await context.newPage();
    const scripts = recordScripts(page);
    await page.goto(`${webUrl}/provider`);
    assert.ok(!wallet.requests.includes("eth_requestAccounts"), "the page asked for accounts before the person clicked connect");

    // A rejected connection request is explained, and nothing is connected.
    await byTestId(page, "connect").click();
    await screenshot(page, "connect-menu");
    // Served without a WalletConnect project id: WalletConnect is not offered and none of its code reached the page.
    assert.equal(await byTestId(page, "wallet-walletConnect").count(), 0, "WalletConnect offered without a project id");
    const loaded = (await scripts()).filter((script) => script.text.includes(WALLETCONNECT_MARK)).map((script) => script.url);
    assert.deepEqual(loaded, [], "the page loaded WalletConnect's provider without a project id");
    wallet.rejectNext();
    await byTestId(page, `wallet-${TEST_WALLET_RDNS}`).click();
    await byTestId(page, "connect-error", "rejected").waitFor();

    // Connect for real.
    await byTestId(page, `wallet-${TEST_WALLET_RDNS}`).click();
    await waitForText(page, "connected-account", `${wallet.address.slice(0, 6)}…${wallet.address.slice(-4)}`);
    await waitForText(page, "registered", "not registered");
    await waitForText(page, "token-balance", `1,000 ${symbol}`);

    // Register: a rejected signature first, then accepted.
    await byTestId(page, "profile-cid").fill(profileCids.get(TEST_WALLET_ACCOUNT)!);
    wallet.rejectNext();
    await byTestId(page, "submit-profile").click();
    await waitForStep(page, "register", "failed");
    await byTestId(page, "tx-register", 'You rejected "Register" in your wallet; nothing was sent.').waitFor();
    assert.equal(wallet.sent(), 1, "the rejected transaction was still the only one asked for");
    await byTestId(page, "submit-profile").click();
    await waitForStep(page, "register", "confirmed");
    await waitForText(page, "registered", "registered");
    await waitForText(page, "score", "50.00 %");

    // Approve + stake 10.
    await byTestId(page, "stake-amount").fill("10");
    await byTestId(page, "submit-stake", "Approve and stake").waitFor();
    await byTestId(page, "submit-stake").click();
    await waitForStep(page, "approve", "confirmed");
    await waitForStep(page, "stake", "confirmed");
    await waitForText(page, "staked", `10 ${symbol}`);
    await waitForText(page, "free-stake", `10 ${symbol}`);
    await waitForText(page, "token-balance", `990 ${symbol}`);

    // An amount above the free stake is explained before anything is sent.
    await byTestId(page, "unstake-amount").fill("11");
    await byTestId(page, "unstake-problem", `only 10 ${symbol} is free`).waitFor();

    // Request unstake of 4: the countdown runs on the chain's clock.
    await byTestId(page, "unstake-amount").fill("4");
    await byTestId(page, "submit-unstake").click();
    await waitForStep(page, "request-unstake", "confirmed");
    await waitForText(page, "unbonding", `4 ${symbol}`);
    await waitForText(page, "free-stake", `6 ${symbol}`);
    await byTestId(page, "unbonding-ready", /^in (59 min|1 h)/).waitFor();
    await screenshot(page, "provider-own");

    // Withdrawing before the delay: the simulation's revert is decoded and the wallet never opens.
    const sentBefore = wallet.sent();
    await byTestId(page, "submit-withdraw").click();
    await waitForStep(page, "withdraw-stake", "failed");
    await byTestId(page, "tx-withdraw-stake", "provider registry unbonding not ready").waitFor();
    await byTestId(page, "tx-withdraw-stake", "ProviderRegistryUnbondingNotReady(provider: ").waitFor();
    assert.equal(wallet.sent(), sentBefore, "a transaction that would revert was sent to the wallet");

    // After the delay on chain, withdraw.
    await rpc("evm_increaseTime", [UNBONDING_DELAY + 1]);
    await rpc("evm_mine", []);
    await waitForText(page, "unbonding-ready", "now");
    await byTestId(page, "submit-withdraw").click();
    await waitForStep(page, "withdraw-stake", "confirmed");
    await waitForText(page, "staked", `6 ${symbol}`);
    await waitForText(page, "unbonding", `0 ${symbol}`);
    await waitForText(page, "token-balance", `994 ${symbol}`);
    const hash = await page.locator('[data-testid="tx-withdraw-stake"] .hash').textContent();
    assert.match(hash ?? "", /^0x[0-9a-f]{64}$/);

    // The network page shows the stake and the seeded job's escrow.
    await page.getByRole("link", { name: "Network" }).click();
    // 6 staked here, plus what the settling providers of the composite test staked (less the give-back's forfeit).
    const staked = await chainReader().readContract({ address: protocol.registry, abi: providerRegistryAbi, functionName: "totalStaked" });
    assert.ok(staked > parseUnits("25", decimals) && staked <= parseUnits("26", decimals), `total staked ${staked}`);
    await waitForText(page, "total-staked", formatAmount(staked, decimals, symbol));
    await waitForText(page, "job-count", "3"); // the seeded job and those the New job and composite tests posted
    await byTestId(page, "job-1", "Open").waitFor();
    const escrow = await chainReader().readContract({ address: protocol.market, abi: jobMarketAbi, functionName: "totalEscrow" });
    assert.ok(escrow > 0n, "the seeded job holds escrow");
    await waitForText(page, "total-escrow", formatAmount(escrow, decimals, symbol));
    await screenshot(page, "network-totals");

    // Read-only for any address: another context, no wallet at all.
    const viewer = await context.browser()!.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const other = await viewer.newPage();
      session.watch(other);
      await other.goto(`${webUrl}/provider/${wallet.address}`);
      await waitForText(other, "staked", `6 ${symbol}`);
      await waitForText(other, "registered", "registered");
      assert.equal(await byTestId(other, "provider-actions").count(), 0, "actions shown to someone who is not the provider");
      const overflow = await other.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the provider page is ${overflow}px wider than a phone screen`);
      await screenshot(other, "provider-readonly-phone");
    } finally {
      await viewer.close();
    }
  });

  it("follows the wallet when the person switches account or chain", async () => {
    const wallet = await installTestWallet(session.context, { privateKey: devnetPrivateKey(SWITCH_ACCOUNTS[0]), rpcUrl: chain.rpcUrl, chainId: CHAIN_ID });
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/provider`);
    await byTestId(page, "connect").click();
    await byTestId(page, `wallet-${TEST_WALLET_RDNS}`).click();
    const short = (a: Address) => `${a.slice(0, 6)}…${a.slice(-4)}`;
    await waitForText(page, "connected-account", short(devnetAccount(SWITCH_ACCOUNTS[0]).address));
    await waitForText(page, "provider-address", devnetAccount(SWITCH_ACCOUNTS[0]).address);

    const next = await wallet.switchAccount(devnetPrivateKey(SWITCH_ACCOUNTS[1]));
    await waitForText(page, "connected-account", short(next));
    await waitForText(page, "provider-address", next);
    await byTestId(page, "provider-actions").waitFor();

    await wallet.switchChain(1);
    await byTestId(page, "switch-chain").waitFor();
    await byTestId(page, "stake-amount").fill("1");
    assert.equal(await byTestId(page, "submit-stake").isDisabled(), true, "a write was offered with the wallet on another chain");
    await screenshot(page, "provider-wrong-chain");
    await byTestId(page, "switch-chain").click();
    await byTestId(page, "switch-chain").waitFor({ state: "detached" });
    assert.equal(await byTestId(page, "submit-stake").isDisabled(), false);
  });

  it("the Audit page rebuilds the market from raw logs with zero discrepancies, filters the events, and re-checks an accepted segment's pixels", async () => {
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/audit`);
    await waitForText(page, "audit-discrepancies", "0 — everything reconciles", 60_000);
    const block = await chainReader().getBlockNumber();
    assert.ok(BigInt((await byTestId(page, "audit-block").textContent()) ?? "0") <= block);
    // Committed seals, as `tessellate audit` checks them: every known seal matches replicaOf, none left unchecked.
    await waitForText(page, "audit-seal-discrepancies", "0 — every seal matches");
    // Every reveal of the run so far (the settled job's four) opens the commitment its commit transaction sent.
    await waitForText(page, "audit-reveal-discrepancies", "0 — every reveal opens its commitment");
    const revealsTotal = Number(await byTestId(page, "audit-reveals-total").textContent());
    assert.ok(revealsTotal >= 4, `only ${revealsTotal} reveals seen`);
    assert.equal(Number(await byTestId(page, "audit-reveals-matched").textContent()) + Number(await byTestId(page, "audit-reveals-direct").textContent()), revealsTotal);
    assert.equal(await byTestId(page, "audit-reveals-unchecked").textContent(), "0");
    assert.ok(Number(await byTestId(page, "audit-seals-compared").textContent()) > 0, "no replica seal was compared");
    assert.equal(await byTestId(page, "audit-seals-unchecked").textContent(), "0");
    // Every account the events know, side by side with the contract: nothing flagged.
    assert.ok((await page.locator('[data-testid^="account-0x"]').count()) >= 4, "the accounts table lists the providers and requesters");
    assert.equal(await page.locator('[data-differs="yes"]').count(), 0);
    const stakedCell = byTestId(page, `account-${devnetAccount(TEST_WALLET_ACCOUNT).address}`).locator('[data-testid="account-staked"]');
    assert.equal(await stakedCell.textContent(), `6 ${symbol}`);

    // Filters: one job's events, one type, a bad address explained.
    await byTestId(page, "filter-job").fill("3");
    const jobEvents = await page.locator('[data-testid="audit-event"]').count();
    assert.ok(jobEvents > 0);
    await byTestId(page, "filter-eventName").selectOption("SegmentAccepted");
    await byTestId(page, "events-shown", /^2 of \d+ events/).waitFor();
    assert.equal(await page.locator('[data-testid="audit-event"][data-event="SegmentAccepted"]').count(), 2);
    await byTestId(page, "filter-job").fill("");
    await byTestId(page, "filter-eventName").selectOption("");
    await byTestId(page, "filter-provider").fill(devnetAccount(SETTLING_PROVIDERS[0]!).address.toLowerCase());
    assert.equal(await page.locator('[data-testid="audit-event"][data-event="ReplicasRevealed"]').count(), 2); // one reveal per segment
    await byTestId(page, "filter-requester").fill("0x12");
    await byTestId(page, "filter-problem-requester", "not an address").waitFor();
    await byTestId(page, "filter-requester").fill(devnetAccount(NEW_JOB_ACCOUNT).address);
    await byTestId(page, "filter-provider").fill("");
    await page.locator('[data-testid="audit-event"][data-event="JobCancelled"]').waitFor();
    assert.equal(await page.locator('[data-testid="audit-event"][data-event="ReplicasRevealed"]').count(), 0, "another requester's job's events shown");
    await byTestId(page, "filter-requester").fill("");

    // Verify: the result fetched from IPFS, its digest recomputed by the sdk in the browser.
    await byTestId(page, "verify-3-1").click();
    await waitForText(page, "verify-result-3-1", "pixels match the accepted digest");
    await screenshot(page, "audit");
  });

  it("the Network page lists the providers with their engines and scores, recent settlements and the price of recent jobs per engine", async () => {
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/network`);
    const profiled = byTestId(page, `provider-${devnetAccount(PROFILE_PROVIDER).address}`);
    await profiled.locator('[data-testid="provider-engines"]', { hasText: `builtin ${BUILTIN_VERSION} (800)` }).waitFor({ timeout: 30_000 });
    // Each provider's CPU kernel class, and how many providers render with each.
    assert.equal(await profiled.locator('[data-testid="provider-cpu-kernel"]').textContent(), "AVX2");
    assert.equal(await byTestId(page, `provider-${devnetAccount(SETTLING_PROVIDERS[0]!).address}`).locator('[data-testid="provider-cpu-kernel"]').textContent(), "unknown");
    const registered = await page.locator('[data-testid^="provider-0x"]').count();
    const kernels = (await byTestId(page, "cpu-kernels").textContent()) ?? "";
    assert.match(kernels, /AVX2 1(,|$)/);
    assert.match(kernels, new RegExp(`unknown ${registered - 1}(,|$)`));
    const score = await chainReader().readContract({ address: protocol.registry, abi: providerRegistryAbi, functionName: "reputation", args: [devnetAccount(SETTLING_PROVIDERS[0]!).address] });
    await byTestId(page, `provider-${devnetAccount(SETTLING_PROVIDERS[0]!).address}`).locator('[data-testid="provider-score"]', { hasText: `${(score / 100).toFixed(2)} %` }).waitFor();
    // Job 3's two accepted segments.
    await page.locator('[data-testid="settlement"]').nth(1).waitFor();
    assert.equal(await page.locator('[data-testid="settlement"]').count(), 2);
    // Every job so far is builtin: rewards 1 (job 1), 2 (job 2), 1 (job 3) per replica.
    await byTestId(page, "price-builtin").locator("td").nth(1).filter({ hasText: /^3$/ }).waitFor({ timeout: 30_000 });
    await waitForText(page, "price-median", `1 ${symbol}`);
    await screenshot(page, "network");
  });

  it("every page fits a phone screen (390 px wide: no horizontal overflow)", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const page = await phone.newPage();
      session.watch(page);
      const pages: [string, string, string][] = [
        ["network", "/network", "job-count"],
        ["new-job", "/job/new", "submit-job"],
        ["job", "/job/3", "segment-1"],
        ["provider", `/provider/${devnetAccount(SETTLING_PROVIDERS[0]!).address}`, "credits"],
        ["audit", "/audit", "audit-discrepancies"],
      ];
      for (const [name, path, marker] of pages) {
        await page.goto(`${webUrl}${path}`);
        await byTestId(page, marker).first().waitFor({ timeout: 60_000 });
        await page.waitForTimeout(500);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `the ${name} page is ${overflow}px wider than a phone screen`);
        await screenshot(page, `phone-${name}`);
      }
    } finally {
      await phone.close();
    }
  });

  it("a tolerant job settles with two replicas a few pixels apart: the Job page composites the accepted one, the Audit page re-derives its fingerprint", async () => {
    // A 32×32 gradient; the second provider's render differs in one pixel (1 of 256 fingerprint blocks).
    const width = 32;
    const tileOf = (changed: boolean): RgbaImage => {
      const data = new Uint8Array(width * width * 4);
      for (let i = 0; i < width * width; i++) data.set([(i * 7) % 256, (i >> 5) * 8, 255 - ((i * 3) % 256), 200 + (i % 50)], i * 4);
      if (changed) data.set([1, 2, 3, 4], (5 * width + 9) * 4);
      return { width, height: width, data };
    };
    const tiles = [tileOf(false), tileOf(true)];
    const results = await addResultFolders(tiles);
    const manifestCid = await addOneFrameManifest({ width, height: width, tilesX: 1, verification: { mode: "tolerant", toleranceBps: 2500 } });
    const transport = http(chain.rpcUrl);
    const deployer = createWalletClient({ transport, account: devnetAccount(DEVNET_ROLES.deployer), chain: hardhat });
    const jobId = await postTestJob(await marketClientOf(DEVNET_ROLES.requester), { manifestCid, segmentCount: 1, verification: Verification.Tolerant, toleranceBps: 2500 });
    const held: { client: Awaited<ReturnType<typeof marketClientOf>>; replica: number; salt: Hex; tile: RgbaImage; resultCid: string }[] = [];
    for (const [i, index] of TOLERANT_PROVIDERS.entries()) {
      await chainReader().waitForTransactionReceipt({ hash: await deployer.writeContract({ address: protocol.token, abi: renderTokenAbi, functionName: "transfer", args: [devnetAccount(index).address, parseUnits("20", decimals)] }), pollingInterval: 100 });
      const provider = await marketClientOf(index);
      await provider.register(profileCids.get(PROFILE_PROVIDER)!);
      await provider.approve(protocol.registry, parseUnits("10", decimals));
      await provider.stake(parseUnits("10", decimals));
      const [slot] = (await provider.claim(jobId, 1)).slots;
      assert.ok(slot);
      const salt = randomSalt();
      await provider.commit(jobId, [{ segment: 0, replica: slot.replica, commitment: commitmentOf(pixelDigest([tiles[i]!]), salt, devnetAccount(index).address, jobId, 0, fingerprint([tiles[i]!])) }]);
      held.push({ client: provider, replica: slot.replica, salt, tile: tiles[i]!, resultCid: results[i]! });
    }
    // The first reveal; the second counts agreement, so it carries the first's fingerprint.
    const peers: Hex[] = [];
    for (const h of held) {
      await h.client.reveal(jobId, [{ segment: 0, replica: h.replica, digest: pixelDigest([h.tile]), salt: h.salt, resultCid: h.resultCid, fingerprint: fingerprint([h.tile]), peerFingerprints: [...peers] }]);
      peers[h.replica] = fingerprint([h.tile]);
      for (let k = 0; k < peers.length; k++) peers[k] ??= "0x";
    }
    const [accepted] = await chainReader().getContractEvents({ address: protocol.market, abi: jobMarketAbi, eventName: "SegmentAccepted", args: { jobId }, fromBlock: 0n });
    assert.ok(accepted, "the tolerant segment was not accepted");
    const winner = held.find((h) => h.replica === Number(accepted.args.replica))!;

    const page = await session.context.newPage();
    await page.goto(`${webUrl}/job/${jobId}`);
    await waitForText(page, "job-verification", "Tolerant: up to 25.00 % of the compared fingerprint blocks may differ");
    await byTestId(page, "count-accepted", /accepted 1$/).waitFor({ timeout: 30_000 });
    await byTestId(page, "segment-0").click();
    for (const h of held) await byTestId(page, `replica-commitment-${h.replica}`, "re-checked: the reveal opens the commitment").waitFor({ timeout: 30_000 });
    await byTestId(page, "make-composite").click();
    await byTestId(page, "composite-ready").waitFor({ timeout: 30_000 });
    const href = await byTestId(page, "download-1").getAttribute("href");
    const png = await page.evaluate(async (url) => Array.from(new Uint8Array(await (await fetch(url!)).arrayBuffer())), href);
    assert.deepEqual(decodePng(new Uint8Array(png)).data, winner.tile.data, "the composite is not the accepted replica's render");
    await screenshot(page, "job-tolerant");

    // The Audit page: still nothing to flag, and "verify" re-derives the accepted replica's fingerprint from IPFS.
    await page.goto(`${webUrl}/audit`);
    await waitForText(page, "audit-discrepancies", "0 — everything reconciles", 60_000);
    await byTestId(page, `verify-${jobId}-0`).click();
    await waitForText(page, `verify-result-${jobId}-0`, "pixels match the accepted digest and fingerprint");
  });

  it("pays with approve + createJob on a market whose token has no EIP-2612 permit", async () => {
    // A second market over a plain ERC-20 (test/solidity/PlainToken.sol), served by a second next start.
    const artifact = JSON.parse(readFileSync(join(WEB, "../artifacts/test/solidity/PlainToken.sol/PlainToken.json"), "utf8")) as { abi: Abi; bytecode: Hex };
    const transport = http(chain.rpcUrl);
    const reader = createPublicClient({ transport });
    const deployer = createWalletClient({ transport, account: devnetAccount(DEVNET_ROLES.deployer), chain: hardhat });
    const supply = parseUnits("1000000", decimals);
    const deployed = await reader.waitForTransactionReceipt({ hash: await deployer.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [supply, deployer.account.address] }), pollingInterval: 100 });
    const plain = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: "web-e2e-plain-token", token: deployed.contractAddress!, parameters: { unbondingDelay: BigInt(UNBONDING_DELAY) } });
    const send = async (hash: Hex) => assert.equal((await reader.waitForTransactionReceipt({ hash, pollingInterval: 100 })).status, "success");
    const poster = devnetAccount(PLAIN_TOKEN_POSTER).address;
    await send(await deployer.writeContract({ address: plain.token, abi: renderTokenAbi, functionName: "transfer", args: [poster, parseUnits("100", decimals)] }));
    // A provider advertising the builtin engine, so the page offers it.
    const provider = createWalletClient({ transport, account: devnetAccount(PROFILE_PROVIDER), chain: hardhat });
    await send(await provider.writeContract({ address: plain.registry, abi: providerRegistryAbi, functionName: "register", args: [profileCids.get(PROFILE_PROVIDER)!] }));
    const served = await startWeb(testPort(8756), { TESSELLATE_TOKEN_ADDRESS: plain.token, TESSELLATE_REGISTRY_ADDRESS: plain.registry, TESSELLATE_MARKET_ADDRESS: plain.market });
    try {
      const wallet = await installTestWallet(session.context, { privateKey: devnetPrivateKey(PLAIN_TOKEN_POSTER), rpcUrl: chain.rpcUrl, chainId: CHAIN_ID });
      const page = await session.context.newPage();
      await page.goto(`${served.url}/job/new`);
      await connectTestWallet(page, wallet.address);
      await byTestId(page, "field-engineVersion").locator("option", { hasText: `${BUILTIN_VERSION} — offered by 1 provider` }).waitFor({ state: "attached" });
      await byTestId(page, "scene-folder").setInputFiles(SAMPLE_SCENE);
      await waitForText(page, "scene-entry", "scene.json");
      await fillFields(page, { tilesX: "1", tilesY: "1", frameEnd: "1", reward: "1", collateral: "2" });
      // A tolerant job, so the Job page shows the mode and its tolerance.
      await byTestId(page, "field-verification").selectOption("tolerant");
      await fillFields(page, { tolerance: "2500" });
      await byTestId(page, "plan-summary", /^1 segment = 1 tile \(1×1\) × 1 frame group /).waitFor();
      assert.equal(await page.locator('[data-testid^="problem-"]').count(), 0, `the form shows problems: ${await page.locator('[data-testid^="problem-"]').allTextContents()}`);
      // eip712Domain() and nonces() do not answer: the page asks for an approve, then createJob.
      await byTestId(page, "submit-job", "Upload, approve and post").click();
      await waitForJobPage(page, 1n);
      await waitForText(page, "job-verification", "Tolerant: up to 25.00 % of the compared fingerprint blocks may differ");
      assert.equal(wallet.sent(), 2, "approve and createJob, nothing else");
      assert.ok(!wallet.requests.includes("eth_signTypedData_v4"), "the page asked for a permit the token does not have");
      const [created] = await reader.getContractEvents({ address: plain.market, abi: jobMarketAbi, eventName: "JobCreated", args: { jobId: 1n }, fromBlock: 0n });
      assert.equal(decodeFunctionData({ abi: jobMarketAbi, data: (await reader.getTransaction({ hash: created!.transactionHash })).input }).functionName, "createJob");
      const [approval] = await reader.getContractEvents({ address: plain.token, abi: renderTokenAbi, eventName: "Approval", args: { owner: poster, spender: plain.market }, fromBlock: 0n });
      const approveTx = await reader.getTransaction({ hash: approval!.transactionHash });
      assert.equal(decodeFunctionData({ abi: renderTokenAbi, data: approveTx.input }).functionName, "approve");
      assert.ok(approval!.blockNumber! < created!.blockNumber!, "the approve was not sent before createJob");
      const job = await reader.readContract({ address: plain.market, abi: jobMarketAbi, functionName: "jobOf", args: [1n] });
      assert.equal(approval!.args.value, job.escrow, "the approve was not for exactly the escrow");
      assert.deepEqual([job.verification, job.toleranceBps], [Verification.Tolerant, 2500]);
      assert.equal(await reader.readContract({ address: plain.token, abi: renderTokenAbi, functionName: "allowance", args: [poster, plain.market] }), 0n);
      await screenshot(page, "job-approve-fallback");
    } finally {
      await stopProcess(served.process);
    }
  });

  it("offers WalletConnect only when served with a project id, loading its code then and not before", async () => {
    const chunks = globSync(join(WEB, ".next/static/chunks/**/*.js")).filter((file) => readFileSync(file, "utf8").includes(WALLETCONNECT_MARK));
    assert.ok(chunks.length > 0, "the build holds no WalletConnect provider code (is @walletconnect/ethereum-provider installed?)");
    const served = await startWeb(testPort(8755), { TESSELLATE_WALLETCONNECT_PROJECT_ID: "0123456789abcdef0123456789abcdef" });
    // WalletConnect's own services are outside the loopback: recorded here, and still blocked by the context.
    const context = await browser.newContext();
    const outside: string[] = [];
    const errors: string[] = [];
    try {
      await context.route("**/*", (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === "127.0.0.1") return route.continue();
        outside.push(url.hostname);
        return route.abort("blockedbyclient");
      });
      const page = await context.newPage();
      page.on("pageerror", (error) => errors.push(error.message));
      const scripts = recordScripts(page);
      await page.goto(`${served.url}/network`);
      await byTestId(page, "connect").click();
      await byTestId(page, "wallet-walletConnect", "WalletConnect").waitFor();
      // wagmi sets the connector up with the page: its provider is imported then, from the chunks the build keeps apart.
      const deadline = Date.now() + 30_000;
      while (!(await scripts()).some((script) => script.text.includes(WALLETCONNECT_MARK))) {
        assert.ok(Date.now() < deadline, "WalletConnect was offered but its provider code never loaded");
        await page.waitForTimeout(250);
      }
      assert.deepEqual(errors, []);
      for (const host of outside) assert.match(host, /(^|\.)(walletconnect\.(org|com)|web3modal\.(org|com)|reown\.com)$/, `a request to ${host}, not a WalletConnect service`);
    } finally {
      await context.close();
      await stopProcess(served.process);
    }
  });

  it("the devnet account picker connects a funded account that signs", async () => {
    const page = await session.context.newPage();
    await page.goto(`${webUrl}/provider`);
    await byTestId(page, "connect").click();
    await page.getByText("No wallet found in this browser.").waitFor();
    await byTestId(page, `wallet-devnet-${PICKER_ACCOUNT}`).click();
    const address = devnetAccount(PICKER_ACCOUNT).address;
    await waitForText(page, "connected-account", `${address.slice(0, 6)}…${address.slice(-4)}`);
    await waitForText(page, "registered", "not registered");
    await byTestId(page, "profile-cid").fill(profileCids.get(PICKER_ACCOUNT)!);
    await byTestId(page, "submit-profile").click();
    await waitForText(page, "registered", "registered");
    await screenshot(page, "provider-devnet-picker");
  });

  it("the sdk's PNG decoder and pixel digest give Node's digests in Chromium, without crypto.subtle: 8- and 16-bit, palette, interlaced, tRNS, semi-transparent", async () => {
    // Canvas getImageData and ImageDecoder alter semi-transparent pixels, and crypto.subtle is missing
    // on an insecure origin (a LAN address): the dApp decodes and hashes with the sdk's own code only.
    const semi = [200, 40, 90, 128, 10, 250, 30, 1, 0, 0, 0, 0, 255, 255, 255, 254, 77, 66, 55, 200, 1, 2, 3, 127]; // 3×2 RGBA8
    const fixtures: [string, Uint8Array][] = [
      ["RGBA 8-bit, semi-transparent", writeRawPng({ width: 3, height: 2, colorType: 6, bitDepth: 8, samples: semi })],
      ["RGBA 8-bit, semi-transparent, interlaced", writeRawPng({ width: 3, height: 2, colorType: 6, bitDepth: 8, samples: semi, interlace: true })],
      ["RGBA 16-bit, semi-transparent", writeRawPng({ width: 3, height: 2, colorType: 6, bitDepth: 16, samples: semi.map((v, i) => Math.max(0, v * 257 - (i % 3) * 200)) })],
      ["RGB 16-bit, interlaced", writeRawPng({ width: 3, height: 2, colorType: 2, bitDepth: 16, samples: semi.filter((_, i) => i % 4 !== 3).map((v) => v * 251), interlace: true })],
      ["palette with tRNS alpha", writeRawPng({ width: 3, height: 2, colorType: 3, bitDepth: 2, samples: [0, 1, 2, 3, 2, 1], palette: [[10, 20, 30], [200, 100, 50], [0, 255, 0], [9, 9, 9]], trns: [0, 128, 255, 7] })],
      ["grey 4-bit with a transparent tRNS level", writeRawPng({ width: 3, height: 2, colorType: 0, bitDepth: 4, samples: [3, 4, 15, 0, 3, 9], trns: [3] })],
      ["grey + alpha 16-bit", writeRawPng({ width: 3, height: 2, colorType: 4, bitDepth: 16, samples: [0, 65535, 1000, 32768, 65535, 1, 40000, 20000, 128, 129, 65534, 65535] })],
    ];
    const node = fixtures.map(([, png]) => pngDigest([png]));
    assert.equal(node[1], node[0], "interlacing changed the digest of the same pixels");
    assert.equal(new Set(node).size, fixtures.length - 1, "the fixtures are not different images");
    const bundled = await esbuild({ entryPoints: [join(WEB, "../sdk/src/index.ts")], bundle: true, format: "iife", globalName: "sdk", platform: "browser", write: false, logLevel: "silent" });
    const page = await session.context.newPage();
    await page.setContent("<!doctype html><title>pixel digest</title>");
    await page.evaluate(() => Object.defineProperty(globalThis.crypto, "subtle", { value: undefined, configurable: true }));
    await page.addScriptTag({ content: bundled.outputFiles[0]!.text });
    const inBrowser = await page.evaluate(
      (files) => {
        const { sdk } = window as unknown as { sdk: { pngDigest(pngs: Uint8Array[]): string } };
        return { subtle: typeof globalThis.crypto.subtle, digests: files.map((bytes) => sdk.pngDigest([new Uint8Array(bytes)])) };
      },
      fixtures.map(([, png]) => [...png]),
    );
    assert.equal(inBrowser.subtle, "undefined", "crypto.subtle was still there");
    assert.deepEqual(Object.fromEntries(fixtures.map(([name], i) => [name, inBrowser.digests[i]])), Object.fromEntries(fixtures.map(([name], i) => [name, node[i]])));
  });

  it("every screenshot the READMEs show is one this run took, and every page has one", () => {
    // docs/dapp-<name>.png is web/test-artifacts/<name>.png of a run; TESSELLATE_UPDATE_SCREENSHOTS=1 copies this run's over them.
    const readmes = [join(WEB, "../README.md"), join(WEB, "README.md")];
    const shown = new Set(readmes.flatMap((file) => [...readFileSync(file, "utf8").matchAll(/\(\.{0,2}\/?docs\/dapp-([a-z0-9-]+)\.png\)/g)].map((m) => m[1]!)));
    assert.ok(shown.size > 0, "no dApp screenshot found in the READMEs");
    for (const name of shown) {
      assert.ok(taken.has(name), `the README shows docs/dapp-${name}.png, which no test of this run took (web/test-artifacts/${name}.png)`);
      if (process.env.TESSELLATE_UPDATE_SCREENSHOTS === "1") copyFileSync(join(ARTIFACTS, `${name}.png`), join(WEB, `../docs/dapp-${name}.png`));
      else assert.ok(existsSync(join(WEB, `../docs/dapp-${name}.png`)), `docs/dapp-${name}.png is missing: run with TESSELLATE_UPDATE_SCREENSHOTS=1`);
    }
    for (const page of ["new-job", "job", "provider", "network", "audit"]) {
      assert.ok([...shown].some((name) => name === page || name.startsWith(`${page}-`) || name === `phone-${page}`), `no README screenshot of the ${page} page`);
    }
  });
});
