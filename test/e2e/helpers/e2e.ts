/**
 * Shared harness of the end-to-end tests: the real local network of `scripts/devnet/network.ts`
 * (Hardhat node + Ignition deployment, embedded IPFS node, provider daemons as child processes)
 * in a temporary folder per test file, on fixed ports the file chooses, and helpers that read
 * what really happened: chain events, provider logs, provider APIs. Nothing here is a fake.
 *
 * Every wait polls with a timeout, and its failure names what it was waiting for, with the tail
 * of each provider's log.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Address } from "viem";
import { parseUnits } from "viem";
import {
  decodePng,
  encodeManifest,
  eventsNamed,
  resultFileName,
  segmentCount,
  unpackSlots,
  type Manifest,
  type MarketClient,
  type ProtocolEvent,
  type RgbaImage,
} from "@tessellate/sdk";
import { BUILTIN_VERSION, createBuiltinEngine } from "../../../provider-node/src/engines/builtin/index.ts";
import { DEVNET_ROLES, devnetAccount } from "../../../scripts/devnet/accounts.ts";
import { testPort } from "../../../scripts/devnet/ports.ts";
import { startNetwork, type Network, type ProviderOptions, type RunningProvider } from "../../../scripts/devnet/network.ts";

export const ROOT = join(import.meta.dirname, "../../..");
export const SAMPLE_SCENE_DIR = join(ROOT, "scenes/builtin-sample");
export const TOKEN = (n: number | string) => parseUnits(String(n), 18);
export const REQUESTER = DEVNET_ROLES.requester;
export const DEPLOYER = DEVNET_ROLES.deployer;

/** Environment every provider daemon of these tests gets: builtin engine only, one render thread. */
export const PROVIDER_ENV: Record<string, string> = {
  TESSELLATE_ENGINES: "builtin",
  TESSELLATE_CPU_THREADS: "1",
};

export interface E2EPorts {
  chain: number;
  ipfsApi: number;
  ipfsGateway: number;
  /** First provider HTTP port; provider i (0-based) listens on `providerHttp + i`. */
  providerHttp: number;
}

/**
 * One test file's network. `start()` assigns every handle as soon as its part runs, so `stop()`
 * (called from `after`, even when setup failed) shuts down whatever did start.
 */
export class E2ENetwork {
  readonly name: string;
  readonly ports: E2EPorts;
  readonly deploymentId: string;
  dir: string | undefined;
  network: Network | undefined;
  private failed = false;
  private readonly started = Date.now();

  constructor(name: string, ports: E2EPorts) {
    this.name = name;
    this.ports = { chain: testPort(ports.chain), ipfsApi: testPort(ports.ipfsApi), ipfsGateway: testPort(ports.ipfsGateway), providerHttp: testPort(ports.providerHttp) };
    this.deploymentId = `e2e-${name}`;
  }

  get net(): Network {
    if (!this.network) throw new Error(`${this.name}: the network did not start`);
    return this.network;
  }

  /** Seconds since this file started, for progress lines. */
  log(message: string): void {
    if (process.env.E2E_VERBOSE) console.log(`[${this.name} ${((Date.now() - this.started) / 1000).toFixed(1)}s] ${message}`);
  }

  async start(): Promise<Network> {
    this.dir = await mkdtemp(join(tmpdir(), `tessellate-e2e-${this.name}-`));
    this.network = await startNetwork({
      dir: join(this.dir, "network"),
      chainPort: this.ports.chain,
      ipfsApiPort: this.ports.ipfsApi,
      ipfsGatewayPort: this.ports.ipfsGateway,
      deploymentId: this.deploymentId,
      requesterTokens: 10_000,
      providerTokens: 1_000,
      onStep: (m) => this.log(m),
    });
    return this.network;
  }

  /** Starts provider `index` (0-based: devnet account 2 + index, HTTP port providerHttp + index). */
  startProvider(index: number, options: Partial<ProviderOptions> = {}): Promise<RunningProvider> {
    return this.net.startProvider({
      account: DEVNET_ROLES.firstProvider + index,
      httpPort: this.ports.providerHttp + index,
      stake: 100,
      ...options,
      env: { ...PROVIDER_ENV, ...options.env },
    });
  }

  /** `afterEach` hook: a failed test keeps the folder (logs, provider state) for inspection. */
  readonly recordOutcome = (t: unknown): void => {
    if ((t as { passed?: boolean }).passed === false) this.failed = true;
  };

  async stop(): Promise<void> {
    await this.network?.stop();
    await rm(join(ROOT, "ignition/deployments", this.deploymentId), { recursive: true, force: true });
    if (!this.dir) return;
    if (this.failed || process.env.E2E_KEEP) console.log(`${this.name}: logs and state kept in ${this.dir}`);
    else await rm(this.dir, { recursive: true, force: true });
  }

  /** The last lines of every provider's log, for failure messages. */
  logTails(lines = 15): string {
    const providers = this.network?.providers ?? [];
    return providers
      .map((p) => {
        const text = existsSync(p.logFile) ? readFileSync(p.logFile, "utf8") : "";
        const tail = text.trimEnd().split("\n").slice(-lines).map(shortLogLine).join("\n    ");
        return `  provider ${p.account} (${p.address}) ${p.logFile}:\n    ${tail}`;
      })
      .join("\n");
  }

  /**
   * Polls `check` until it returns a truthy value (thrown errors count as "not yet"); fails after
   * `timeoutMs` naming `what`, the last error seen and the providers' log tails.
   */
  async waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        const value = await check();
        if (value) return value;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        const why = lastError ? ` (last error: ${(lastError as Error).message})` : "";
        throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${why}\n${this.logTails()}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/** One-line form of a pino JSON log line (level, msg, the useful fields). */
function shortLogLine(line: string): string {
  try {
    const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return `${level} ${msg} ${JSON.stringify(rest)}`.slice(0, 400);
  } catch {
    return line.slice(0, 400);
  }
}

// ------------------------------------------------------------------------------------------ logs

export interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The provider's log as parsed pino lines (non-JSON lines are skipped). */
export async function readLog(provider: Pick<RunningProvider, "logFile">): Promise<LogEntry[]> {
  if (!existsSync(provider.logFile)) return [];
  const entries: LogEntry[] = [];
  for (const line of (await readFile(provider.logFile, "utf8")).split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // a line being written
    }
  }
  return entries;
}

// ------------------------------------------------------------------------------------------ API

export async function apiGet<T = unknown>(provider: RunningProvider, path: string): Promise<T> {
  const response = await fetch(`${provider.apiUrl}${path}`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET ${provider.apiUrl}${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export async function apiPost(provider: RunningProvider, path: "/pause" | "/resume"): Promise<void> {
  const response = await fetch(`${provider.apiUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${provider.apiToken}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`POST ${provider.apiUrl}${path}: HTTP ${response.status} ${await response.text()}`);
}

export interface ApiReplica {
  jobId: string;
  segment: number;
  replica: number;
  state: string;
  [field: string]: unknown;
}

export async function replicasOf(provider: RunningProvider, jobId: bigint): Promise<ApiReplica[]> {
  return (await apiGet<{ replicas: ApiReplica[] }>(provider, `/segments?job=${jobId}`)).replicas;
}

// ------------------------------------------------------------------------------------------ jobs

export interface PostJobOptions {
  /** Manifest fields over the defaults (builtin, 32×24, frame 1, 2×1 tiles, 4 samples). */
  manifest?: Partial<Omit<Manifest, "settings">> & { settings?: Record<string, unknown> };
  redundancy?: number;
  quorum?: number;
  reward?: bigint;
  collateral?: bigint;
  leaseDuration?: number;
  revealWindow?: number;
  /** Seconds from the chain's clock. */
  deadlineIn?: number;
  /** Share of accepted segments audited (parts of 10,000); default 0. */
  auditBps?: number;
}

export interface PostedJob {
  jobId: bigint;
  blockNumber: bigint;
  manifest: Manifest;
  manifestCid: string;
  escrow: bigint;
}

/** Uploads the sample scene to IPFS and returns its CID, entry and size. */
export async function uploadSampleScene(network: Network): Promise<{ cid: string; entry: string; sizeBytes: number }> {
  const cid = await network.storage.addFolder(SAMPLE_SCENE_DIR);
  const sizeBytes = (await readFile(join(SAMPLE_SCENE_DIR, "scene.json"))).length + (await readFile(join(SAMPLE_SCENE_DIR, "README.md"))).length;
  return { cid, entry: "scene.json", sizeBytes };
}

/** A small builtin manifest of the sample scene (not validated: callers may break it on purpose). */
export function sampleManifest(scene: { cid: string; entry: string; sizeBytes: number }, overrides: PostJobOptions["manifest"] = {}): Manifest {
  return {
    version: 1,
    engine: { name: "builtin", version: BUILTIN_VERSION },
    scene,
    output: { width: 32, height: 24, format: "png" },
    frames: { start: 1, end: 1 },
    settings: { samples: 4, seed: 7, maxBounces: 3 },
    segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
    verification: { mode: "exact" },
    ...overrides,
  } as Manifest;
}

/**
 * Posts a job straight through the market contract (`createJob`), with the given manifest bytes
 * already on IPFS under `manifestCid`. `segments` is what the job is posted with.
 */
export async function createJobRaw(
  requester: MarketClient,
  args: { manifestCid: string; segments: number } & Omit<PostJobOptions, "manifest">,
): Promise<{ jobId: bigint; blockNumber: bigint; escrow: bigint }> {
  const redundancy = args.redundancy ?? 2;
  const reward = args.reward ?? TOKEN(1);
  await ensureAllowance(requester, TOKEN(1_000));
  const now = await requester.latestTimestamp();
  const wall = BigInt(Math.floor(Date.now() / 1000));
  const created = await requester.createJob({
    manifestCid: args.manifestCid,
    segmentCount: args.segments,
    redundancy,
    quorum: args.quorum ?? redundancy,
    rewardPerReplica: reward,
    collateralPerReplica: args.collateral ?? 2n * reward,
    leaseDuration: args.leaseDuration ?? 300,
    revealWindow: args.revealWindow ?? 120,
    deadline: (now > wall ? now : wall) + BigInt(args.deadlineIn ?? 3_600),
    minReputation: 0,
    maxFeeBps: 1_000,
    auditBps: args.auditBps ?? 0,
  });
  const [event] = eventsNamed(created.events, "JobCreated");
  return { jobId: created.jobId, blockNumber: created.receipt.blockNumber, escrow: event.args.escrow };
}

/** Uploads the manifest and posts the job. */
export async function postJob(network: Network, requester: MarketClient, scene: { cid: string; entry: string; sizeBytes: number }, options: PostJobOptions = {}): Promise<PostedJob> {
  const manifest = sampleManifest(scene, options.manifest);
  const manifestCid = await network.storage.addBytes(encodeManifest(manifest));
  const posted = await createJobRaw(requester, { ...options, manifestCid, segments: segmentCount(manifest) });
  return { ...posted, manifest, manifestCid };
}

async function ensureAllowance(client: MarketClient, amount: bigint): Promise<void> {
  if ((await client.allowance(client.account!, client.addresses.market)) < amount) await client.approve(client.addresses.market, amount * 10n);
}

// ------------------------------------------------------------------------------------------ events

/** Every protocol event from `fromBlock` to the head. */
export async function eventsSince(client: MarketClient, fromBlock: bigint): Promise<ProtocolEvent[]> {
  return client.events(fromBlock, await client.blockNumber());
}

/** Events of one job (those with a `jobId` argument equal to it). */
export function ofJob(events: ProtocolEvent[], jobId: bigint): ProtocolEvent[] {
  return events.filter((e) => (e.args as { jobId?: bigint }).jobId === jobId);
}

/** Segments the given events accepted. */
export function acceptedSegments(events: ProtocolEvent[], jobId: bigint): Set<number> {
  return new Set(eventsNamed(events, "SegmentAccepted").filter((e) => e.args.jobId === jobId).map((e) => e.args.segment));
}

/** Slots (segment, replica) of `kind` events sent by `provider` for the job. */
export function slotsBy(events: ProtocolEvent[], kind: "ReplicasClaimed" | "ReplicasCommitted" | "ReplicasRevealed", jobId: bigint, provider: Address) {
  return events
    .filter((e) => e.eventName === kind)
    .map((e) => e.args as { jobId: bigint; provider: Address; slots: readonly bigint[] })
    .filter((a) => a.jobId === jobId && a.provider.toLowerCase() === provider.toLowerCase())
    .flatMap((a) => unpackSlots(a.slots));
}

/**
 * Posts a job while `others` are paused, waits until `first` claimed a replica of it, then resumes
 * them: a test of a misbehaving provider makes sure it takes part.
 */
export async function postJobFirstClaimedBy(
  e2e: E2ENetwork,
  requester: MarketClient,
  first: RunningProvider,
  others: RunningProvider[],
  post: () => Promise<PostedJob>,
): Promise<PostedJob> {
  for (const p of others) await apiPost(p, "/pause");
  const job = await post();
  await e2e.waitFor(
    `provider ${first.account} to claim a replica of job ${job.jobId}`,
    async () => slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasClaimed", job.jobId, first.address).length > 0,
    60_000,
    100,
  );
  for (const p of others) await apiPost(p, "/resume");
  return job;
}

/** Sum of `Credited` amounts of the given kinds to `account` from the job. */
export function creditedTo(events: ProtocolEvent[], jobId: bigint, account: Address, kinds: number[]): bigint {
  return eventsNamed(events, "Credited")
    .filter((e) => e.args.jobId === jobId && e.args.account.toLowerCase() === account.toLowerCase() && kinds.includes(e.args.kind))
    .reduce((sum, e) => sum + e.args.amount, 0n);
}

export function addressOf(account: number): Address {
  return devnetAccount(account).address;
}

/** Writes a file into the test's folder (for scenes and documents made on the fly). */
export async function writeText(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

// ------------------------------------------------------------------------------------------ reference

/**
 * Renders every frame of the manifest at full frame, in one piece, with the builtin engine in this
 * process (what a single machine would produce without any network), and returns the decoded RGBA.
 */
export async function renderReferenceFrames(manifest: Manifest, sceneDir = SAMPLE_SCENE_DIR): Promise<Map<number, RgbaImage>> {
  const engine = createBuiltinEngine();
  const dir = await mkdtemp(join(tmpdir(), "tessellate-e2e-reference-"));
  const frames = new Map<number, RgbaImage>();
  try {
    const { width, height } = manifest.output;
    for (let frame = manifest.frames.start; frame <= manifest.frames.end; frame++) {
      const outPath = join(dir, resultFileName(frame));
      await engine.render({
        sceneDir,
        entry: manifest.scene.entry,
        width,
        height,
        rect: { x: 0, y: 0, width, height },
        frame,
        frames: manifest.frames,
        settings: manifest.settings as Record<string, unknown>,
        outPath,
        limits: { threads: 1, memoryBytes: 1024 * 1024 * 1024, timeoutMs: 120_000 },
      });
      frames.set(frame, decodePng(new Uint8Array(await readFile(outPath))));
    }
    return frames;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How many pixels of two same-sized RGBA images differ (any channel). */
export function differingPixels(a: RgbaImage, b: RgbaImage): number {
  if (a.width !== b.width || a.height !== b.height) return Math.max(a.width * a.height, b.width * b.height);
  let count = 0;
  for (let p = 0; p < a.width * a.height; p++) {
    const i = p * 4;
    if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2] || a.data[i + 3] !== b.data[i + 3]) count++;
  }
  return count;
}
