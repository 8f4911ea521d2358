/** Provider profiles for the CLI's tests: what a provider node publishes before it registers (see sdk/src/profile.ts). */
import type { Address } from "viem";
import { canonicalJson } from "@tessellate/sdk/manifest";
import { PROFILE_VERSION, type ProviderProfile } from "@tessellate/sdk/profile";
import type { Storage } from "@tessellate/sdk/storage";

/**
 * Publishes a profile advertising `engines` (name → version), rendering Blender with the Cycles
 * CPU kernel class `cpuKernel` when given, and returns its CID, to pass to `register`.
 */
export function publishTestProfile(
  storage: Pick<Storage, "addBytes">,
  address: Address,
  engines: Record<string, string>,
  cpuKernel?: string,
  extra: Partial<Pick<ProviderProfile, "measuredRenders" | "verificationModes">> = {},
): Promise<string> {
  const profile: ProviderProfile = {
    version: PROFILE_VERSION,
    address,
    engines: Object.entries(engines).map(([name, version]) => ({ name, version, score: 50, seconds: 1 })),
    benchmarkScore: 50,
    hardware: { cpus: 2, cpuModel: "test", memoryBytes: 4 * 1024 ** 3, ...(cpuKernel === undefined ? {} : { cpuKernel }) },
    limits: { maxConcurrentSegments: 1, cpuThreads: 1, memoryBytes: 1024 ** 3, maxSceneBytes: 1024 ** 3, workHours: "0-24" },
    pricing: { minRewardPerRenderSecondWei: "0" },
    ...extra,
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
  return storage.addBytes(new TextEncoder().encode(canonicalJson(profile)));
}
