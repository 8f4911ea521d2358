/**
 * A small world for provider-node tests: a fake market, in-memory storage holding a scene and a
 * manifest, a clock that can jump forward, and helpers to post jobs and start nodes on them.
 * Set TEST_LOG=debug to see the nodes' logs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex, type Address } from "viem";
import { encodeManifest, parseManifest, segmentCount, type Manifest } from "@tessellate/sdk";
import { MemoryStorage } from "@tessellate/sdk/testing/memoryStorage";
import { resolveConfig, type ConfigOverrides, type ProviderConfig } from "../config/config.ts";
import type { Engine } from "../engines/engine.ts";
import { createEngineRegistry } from "../engines/registry.ts";
import { createLogger, silentLogger } from "../logger.ts";
import { startProviderNode, type ProviderNode } from "../main.ts";
import { systemClock, type Clock, type Logger, type MarketPort } from "../ports.ts";
import { createFakeEngine, type FakeEngine } from "./fakeEngine.ts";
import { FakeMarket } from "./fakeMarket.ts";

export const TOKEN = 10n ** 18n;
export const REQUESTER: Address = "0x0000000000000000000000000000000000000001";
export const PROVIDER_A: Address = "0x000000000000000000000000000000000000000a";
export const PROVIDER_B: Address = "0x000000000000000000000000000000000000000b";
export const PROVIDER_C: Address = "0x000000000000000000000000000000000000000c";

/** Wall clock plus an offset that tests move forward. */
export class TestClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

export interface World {
  clock: TestClock;
  market: FakeMarket;
  storage: MemoryStorage;
  dir: string;
  nodes: ProviderNode[];
  cleanup(): Promise<void>;
}

export async function createWorld(stake = 1_000n * TOKEN): Promise<World> {
  const clock = new TestClock();
  const market = new FakeMarket(clock);
  for (const p of [PROVIDER_A, PROVIDER_B, PROVIDER_C]) market.registerProvider(p, stake);
  const dir = await mkdtemp(join(tmpdir(), "tessellate-provider-test-"));
  const world: World = {
    clock,
    market,
    storage: new MemoryStorage(),
    dir,
    nodes: [],
    async cleanup() {
      await Promise.allSettled(world.nodes.map((n) => n.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

export interface JobOptions {
  tiles?: number;
  frames?: number;
  redundancy?: number;
  quorum?: number;
  reward?: bigint;
  collateral?: bigint;
  lease?: number;
  revealWindow?: number;
  deadlineIn?: number;
  minReputation?: number;
  engineVersion?: string;
  /** The job's engine (default builtin); blender jobs take `{ samples: 1, seed: 1 }`. */
  engine?: "builtin" | "blender";
}

/** Adds a scene and a manifest to storage and posts the job on the fake market. */
export async function postJob(world: World, options: JobOptions = {}): Promise<{ jobId: bigint; manifest: Manifest; manifestCid: string }> {
  const sceneBytes = new TextEncoder().encode(JSON.stringify({ version: 1, note: "fake scene" }));
  const sceneCid = await world.storage.addEntries({ "scene.json": sceneBytes });
  const tiles = options.tiles ?? 2;
  const manifest = parseManifest({
    version: 1,
    engine: { name: options.engine ?? "builtin", version: options.engineVersion ?? "1.0.0" },
    scene: { cid: sceneCid, entry: "scene.json", sizeBytes: sceneBytes.length },
    output: { width: 4 * tiles, height: 4, format: "png" },
    frames: { start: 1, end: options.frames ?? 1 },
    settings: options.engine === "blender" ? { samples: 1, seed: 1 } : { samples: 1, seed: 1, maxBounces: 0 },
    segmentation: { tilesX: tiles, tilesY: 1, framesPerSegment: options.frames ?? 1 },
    verification: { mode: "exact" },
  });
  const manifestCid = await world.storage.addBytes(encodeManifest(manifest));
  const redundancy = options.redundancy ?? 2;
  const jobId = world.market.createJob(REQUESTER, {
    manifestCid,
    segmentCount: segmentCount(manifest),
    redundancy,
    quorum: options.quorum ?? redundancy,
    rewardPerReplica: options.reward ?? 1n * TOKEN,
    collateralPerReplica: options.collateral ?? 2n * TOKEN,
    leaseDuration: options.lease ?? 600,
    revealWindow: options.revealWindow ?? 300,
    deadline: world.market.now() + BigInt(options.deadlineIn ?? 86_400),
    minReputation: options.minReputation ?? 0,
    maxFeeBps: 1_000,
  });
  return { jobId, manifest, manifestCid };
}

export function testConfig(world: World, name: string, overrides: ConfigOverrides = {}): ProviderConfig {
  return resolveConfig({
    dataDir: join(world.dir, name),
    engines: ["builtin"],
    benchmarkScore: 1_000,
    logLevel: "silent",
    withdrawThreshold: "0.5",
    ...overrides,
    http: { enabled: false, ...overrides.http },
    limits: { maxConcurrentSegments: 4, commitMarginSeconds: 5, cpuThreads: 1, ...overrides.limits },
    keeper: { tokensPerNative: "1000", ...overrides.keeper },
  });
}

export interface NodeOptions {
  name?: string;
  /** The node's one engine (default: a fake builtin engine); a real adapter works too. */
  engine?: Engine;
  config?: ConfigOverrides;
  /** Wraps the node's market (to inject failures or "crashes" around a call). */
  wrap?: (market: MarketPort) => MarketPort;
  /** The node's logger (default: silent, or TEST_LOG's level). */
  logger?: Logger;
  /** The load per core the node sees (default: this machine's). */
  loadPerCore?: () => number;
}

export async function startNode(world: World, account: Address, options: NodeOptions = {}): Promise<ProviderNode> {
  const engine = options.engine ?? createFakeEngine();
  const base = world.market.portFor(account);
  const node = await startProviderNode(testConfig(world, options.name ?? account.slice(-4), options.config), {
    market: options.wrap ? options.wrap(base) : base,
    storage: world.storage,
    engines: createEngineRegistry([engine]),
    clock: world.clock,
    logger: options.logger ?? (process.env.TEST_LOG ? createLogger(process.env.TEST_LOG).child({ node: account.slice(-1) }) : silentLogger),
    backoff: { baseMs: 20, maxMs: 200 },
    saltSecret: keccak256(toHex(`test salt secret of ${account.toLowerCase()}`)),
    loadPerCore: options.loadPerCore,
  });
  world.nodes.push(node);
  return node;
}

/** Polls `predicate` every 10 ms until it holds; fails after `timeoutMs` with `what`. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The states of a node's replicas of `jobId`, sorted by segment. */
export function statesOf(node: ProviderNode, jobId: bigint): string[] {
  return node.store
    .listReplicas({ jobId })
    .sort((a, b) => a.segment - b.segment || a.id - b.id)
    .map((r) => `${r.segment}:${r.state}`);
}
