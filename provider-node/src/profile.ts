/**
 * The provider profile: what a provider advertises (engines with exact versions, hardware,
 * benchmark scores, limits), published to IPFS as canonical JSON and registered on-chain by CID.
 */
import { cpus, totalmem } from "node:os";
import type { Address } from "viem";
import { canonicalJson, type Storage } from "@tessellate/sdk";
import type { ProviderConfig } from "./config/config.ts";
import type { RenderLimits } from "./engines/engine.ts";
import type { EngineRegistry } from "./engines/registry.ts";

export const PROFILE_VERSION = 1;

export interface EngineBenchmark {
  name: string;
  version: string;
  /** Thousands of samples per second on the engine's reference scene (higher is faster). */
  score: number;
  seconds: number;
}

export interface ProviderProfile {
  version: typeof PROFILE_VERSION;
  address: Address;
  engines: EngineBenchmark[];
  /** The builtin engine's score: what `estimateJob` takes as `benchmarkScore`. */
  benchmarkScore: number | null;
  hardware: { cpus: number; cpuModel: string; memoryBytes: number };
  limits: { maxConcurrentSegments: number; cpuThreads: number; memoryBytes: number; maxSceneBytes: number; workHours: string };
  pricing: { minRewardPerRenderSecondWei: string };
  updatedAt: string;
}

/** Benchmarks every installed and enabled engine, one after another. */
export async function benchmarkEngines(
  engines: EngineRegistry,
  enabled: readonly string[],
  limits: RenderLimits,
  onEngine?: (name: string, version: string) => void,
): Promise<EngineBenchmark[]> {
  const results: EngineBenchmark[] = [];
  for (const info of await engines.detectAll()) {
    if (!enabled.includes(info.name)) continue;
    onEngine?.(info.name, info.version);
    const engine = engines.get(info.name)!;
    const { score, seconds } = await engine.benchmark(limits);
    results.push({ name: info.name, version: info.version, score: Math.round(score * 1000) / 1000, seconds: Math.round(seconds * 1000) / 1000 });
  }
  return results;
}

export function buildProfile(address: Address, config: ProviderConfig, engines: EngineBenchmark[], now = new Date()): ProviderProfile {
  const cpuList = cpus();
  return {
    version: PROFILE_VERSION,
    address,
    engines,
    benchmarkScore: engines.find((e) => e.name === "builtin")?.score ?? null,
    hardware: { cpus: cpuList.length, cpuModel: cpuList[0]?.model.trim() ?? "unknown", memoryBytes: totalmem() },
    limits: {
      maxConcurrentSegments: config.limits.maxConcurrentSegments,
      cpuThreads: config.limits.cpuThreads,
      memoryBytes: config.limits.memoryBytes,
      maxSceneBytes: config.limits.maxSceneBytes,
      workHours: config.limits.workHours,
    },
    pricing: { minRewardPerRenderSecondWei: config.pricing.minRewardPerRenderSecondWei.toString() },
    updatedAt: now.toISOString(),
  };
}

/** Adds the profile to IPFS as canonical JSON; returns its CID. */
export function publishProfile(storage: Storage, profile: ProviderProfile): Promise<string> {
  return storage.addBytes(new TextEncoder().encode(canonicalJson(profile)));
}
