/**
 * Every default of the provider node, in one place. Secrets (the private key, the keystore
 * password, the API token) have no default: they come from the environment or the config file.
 */
import { availableParallelism, homedir, totalmem } from "node:os";
import { join } from "node:path";

const GiB = 1024 ** 3;

export const DEFAULTS = {
  /** The devnet's Hardhat node. */
  rpcUrl: "http://127.0.0.1:8545",
  /** A local Kubo node, or the devnet's embedded IPFS node. */
  ipfsApiUrl: "http://127.0.0.1:5001",
  /** Local state (SQLite), scene cache and results. */
  dataDir: join(homedir(), ".tessellate", "provider"),
  /** Engines this node may use, when installed. */
  engines: ["builtin", "povray", "blender"],
  /** Key source: a keystore file (see keySource.ts); the private key itself is never a setting. */
  key: {},
  /** Contract address overrides; unset = the generated deployment of the connected chain. */
  contracts: {},
  chain: {
    /** Block to start following events from on a fresh data dir (0 = the whole history). */
    startBlock: 0,
  },
  limits: {
    /**
     * Render slots: engine runs at the same time, each with cpuThreads threads (also caps how
     * many replicas are claimed: a slot holds one tile, or tilesPerRender to maxTilesPerRender tiles of one job).
     * Tiles of one job and frame range started together render in one engine process (POV-Ray,
     * Blender) with the threads of the slots they fill (worker/tileGroup.ts).
     */
    maxConcurrentSegments: 1,
    /**
     * Tiles of one job and frame range one render slot holds at least (the lease permitting) and
     * renders in one engine process (POV-Ray, Blender: one start-up and scene load for all of
     * them), as many as the job's lease leaves room for (they take about the sum of their render
     * times). 1 = a tile per render, unless the engine's start-up dominates (maxTilesPerRender).
     */
    tilesPerRender: 4,
    /**
     * Most tiles of one job a render slot holds when the engine's start-up dominates a tile's
     * estimated render: a slot takes enough tiles that one launch (what one engine process costs
     * this node, learned from its own engine calls: jobs/launchCost.ts; Engine.launchSeconds before
     * the first) is at most a twentieth of their render, up to this many, never fewer than tilesPerRender
     * and always within the lease (worker/render.ts tilesPerSlot). Set it to tilesPerRender for
     * a fixed number.
     */
    maxTilesPerRender: 16,
    /** Threads one render may use. */
    cpuThreads: Math.max(1, availableParallelism()),
    /** Address-space limit of one engine process. */
    memoryBytes: Math.min(8 * GiB, totalmem()),
    /** Largest scene folder accepted. */
    maxSceneBytes: 1 * GiB,
    /** Disk budget of the scene cache (least recently used scenes not in use are deleted beyond it). */
    sceneCacheBytes: 5 * GiB,
    /** Longest render of one frame of a segment. */
    renderTimeoutSeconds: 3_600,
    /** Hours of the day (local time) in which the node claims new work: "0-24" = always. */
    workHours: "0-24",
    /** Seconds kept free at the end of a lease for uploading the result and committing. */
    commitMarginSeconds: 10,
    /** The estimated render time is multiplied by this before comparing it with a lease. */
    renderTimeSafetyFactor: 2,
  },
  pricing: {
    /** Minimum reward per estimated render-second, in token base units (wei). */
    minRewardPerRenderSecondWei: "0",
  },
  /** Skip jobs whose own minimum reputation (basis points) is below this. */
  minJobReputation: 0,
  /** Publish measured render times in the profile (an `updateProfile` transaction) at most this often, and only after new renders. */
  profilePublishIntervalSeconds: 600,
  /** Withdraw market earnings once they reach this many tokens. */
  withdrawThreshold: "10",
  http: {
    enabled: true,
    host: "127.0.0.1",
    port: 7800,
  },
  keeper: {
    /** Call `expire` on other providers' missed leases and reveal windows when it pays. */
    enabled: true,
    /** What one unit of the chain's native currency is worth in tokens, to compare the keeper fee with gas. */
    tokensPerNative: "1",
  },
  sandbox: {
    /** How engines are isolated: "bubblewrap", or "none" (no isolation, warned about loudly). */
    isolation: "bubblewrap",
  },
  logLevel: "info",
  testing: {
    /** TEST ONLY: commit wrong digests (refused unless TESSELLATE_ALLOW_TEST_MODES=1). */
    corruptDigests: false,
    /**
     * TEST ONLY: render cheaply on purpose (refused unless TESSELLATE_ALLOW_TEST_MODES=1):
     * "fewer-samples" (12 % fewer), "another-seed", "neighbouring-frame", "half-resolution"
     * (rendered at half size, scaled up); "" renders honestly.
     */
    cheat: "",
  },
} as const;
