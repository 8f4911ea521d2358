/**
 * Building the provider profile (its shape and parser are the sdk's, `sdk/src/profile.ts`): what a
 * provider advertises, published to IPFS as canonical JSON and registered on-chain by CID.
 */
import { cpus, totalmem } from "node:os";
import type { Address } from "viem";
import { canonicalJson, PROFILE_VERSION, type EngineBenchmark, type ProviderProfile, type Storage } from "@tessellate/sdk";
import type { ProviderConfig } from "./config/config.ts";
import { SUPPORTED_VERIFICATION_MODES } from "./jobs/jobFilter.ts";
import type { CyclesKernelClass } from "./engines/blender/cpuKernel.ts";
import type { RenderLimits } from "./engines/engine.ts";
import type { EngineRegistry } from "./engines/registry.ts";

export { PROFILE_VERSION, type EngineBenchmark, type ProviderProfile } from "@tessellate/sdk/profile";

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
    const { score, seconds, cpuKernel } = await engine.benchmark(limits);
    results.push({
      name: info.name,
      version: info.version,
      score: Math.round(score * 1000) / 1000,
      seconds: Math.round(seconds * 1000) / 1000,
      ...(cpuKernel === undefined ? {} : { cpuKernel }),
    });
  }
  return results;
}

/**
 * The verification modes this node advertises (requesters' CLIs warn when no registered provider
 * offers a job's mode): the ones its job filter takes, exact and tolerant.
 */
export const ADVERTISED_VERIFICATION_MODES = SUPPORTED_VERIFICATION_MODES;

/**
 * The profile. `detectedCpuKernel` is the Cycles kernel class read from the processor's flags
 * (cpuKernel.ts `detectCyclesKernel`); what an engine reported using in its benchmark wins.
 */
export function buildProfile(
  address: Address,
  config: ProviderConfig,
  engines: EngineBenchmark[],
  now = new Date(),
  detectedCpuKernel: CyclesKernelClass | null = null,
): ProviderProfile {
  const cpuList = cpus();
  const cpuKernel = engines.find((e) => e.cpuKernel !== undefined)?.cpuKernel ?? detectedCpuKernel;
  return {
    version: PROFILE_VERSION,
    address,
    engines,
    benchmarkScore: engines.find((e) => e.name === "builtin")?.score ?? null,
    hardware: { cpus: cpuList.length, cpuModel: cpuList[0]?.model.trim() ?? "unknown", memoryBytes: totalmem(), cpuKernel },
    limits: {
      maxConcurrentSegments: config.limits.maxConcurrentSegments,
      cpuThreads: config.limits.cpuThreads,
      memoryBytes: config.limits.memoryBytes,
      maxSceneBytes: config.limits.maxSceneBytes,
      workHours: config.limits.workHours,
    },
    pricing: { minRewardPerRenderSecondWei: config.pricing.minRewardPerRenderSecondWei.toString() },
    verificationModes: [...ADVERTISED_VERIFICATION_MODES],
    updatedAt: now.toISOString(),
  };
}

/** Adds the profile to IPFS as canonical JSON; returns its CID. */
export function publishProfile(storage: Storage, profile: ProviderProfile): Promise<string> {
  return storage.addBytes(new TextEncoder().encode(canonicalJson(profile)));
}
