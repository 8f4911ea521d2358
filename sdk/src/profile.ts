/**
 * The provider profile: what a provider advertises (engines with exact versions, hardware,
 * benchmark scores, limits, price floor), published to IPFS as canonical JSON and registered
 * on-chain by CID (`ProviderRegistered` / `ProfileUpdated`). The provider node writes it; the CLI
 * reads the registered ones (e.g. to default a job's engine version to what providers run) and
 * the dApp can show them. Browser-safe.
 */
import { z } from "zod";
import { FatalError } from "./errors.ts";

export const PROFILE_VERSION = 1;
/** Profiles are small JSON documents; a CID pointing at more than this is not one. */
export const MAX_PROFILE_BYTES = 64 * 1024;

export interface EngineBenchmark {
  name: string;
  version: string;
  /** Thousands of samples per second on the engine's reference scene (higher is faster). */
  score: number;
  seconds: number;
  /** The CPU kernel class the engine reported using in the benchmark (Blender's Cycles: "AVX2", "SSE4.1", …). */
  cpuKernel?: string;
}

/** One engine's measured renders on one node (see ProviderProfile.measuredRenders). */
export interface MeasuredRenders {
  engine: string;
  version: string;
  /** The benchmark score the node's estimates used (thousands of samples per second, > 0). */
  benchmarkScore: number;
  /** measured ÷ estimated seconds of each recent render, oldest first (at most MAX_MEASURED_RENDERS). */
  ratios: number[];
}

/** How many recent renders per engine a profile carries. */
export const MAX_MEASURED_RENDERS = 20;

export interface ProviderProfile {
  version: typeof PROFILE_VERSION;
  address: `0x${string}`;
  engines: EngineBenchmark[];
  /** The builtin engine's score: what `estimateJob` takes as `benchmarkScore`. */
  benchmarkScore: number | null;
  hardware: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    /**
     * The CPU kernel class Cycles renders with on this node — "AVX2", "AVX", "SSE4.1", "SSE3" or
     * "SSE2" — as Blender reported it in the benchmark, else as Cycles would pick it from the
     * processor's flags; null when neither applies. Honest renders from different classes differ
     * in a few pixels (tolerant verification accepts that). Absent in profiles of older nodes.
     */
    cpuKernel?: string | null;
  };
  limits: { maxConcurrentSegments: number; cpuThreads: number; memoryBytes: number; maxSceneBytes: number; workHours: string };
  pricing: { minRewardPerRenderSecondWei: string };
  /**
   * Measured render times per engine: each of the node's recent renders as measured ÷ estimated
   * seconds, the estimate being the sdk's `estimateJob` at `benchmarkScore` (the score the node
   * estimated with), oldest first. Published by the running node (profile updates on-chain); absent
   * in older profiles and before a node finished a render. What requesters calibrate estimates with.
   */
  measuredRenders?: MeasuredRenders[];
  /** The verification modes the node renders; absent in profiles written before the field existed (read as `["exact"]`). */
  verificationModes?: string[];
  updatedAt: string;
}

/** What a reader relies on; other fields are kept as they are (a newer node may add some). */
const profileSchema = z.looseObject({
  version: z.literal(PROFILE_VERSION),
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  engines: z.array(z.looseObject({ name: z.string().min(1), version: z.string().min(1), score: z.number(), seconds: z.number() })),
  hardware: z.looseObject({ cpuKernel: z.string().min(1).max(32).nullable().optional() }).optional(),
  // Strings, not the modes this reader knows: a newer node may advertise a mode added later.
  verificationModes: z.array(z.string().min(1)).optional(),
  measuredRenders: z
    .array(z.looseObject({ engine: z.string().min(1), version: z.string().min(1), benchmarkScore: z.number().positive(), ratios: z.array(z.number().positive()).max(MAX_MEASURED_RENDERS) }))
    .optional(),
});

/** The CPU kernel class a profile advertises, or "unknown" (older profile, or none applies). */
export function profileCpuKernel(profile: Pick<ProviderProfile, "hardware">): string {
  return profile.hardware?.cpuKernel ?? "unknown";
}

/**
 * Parses a profile's bytes (UTF-8 JSON).
 * @throws FatalError `PROFILE_INVALID` saying what is wrong.
 */
export function parseProviderProfile(bytes: Uint8Array): ProviderProfile {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new FatalError("PROFILE_INVALID", `the provider profile is not UTF-8 JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = profileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FatalError("PROFILE_INVALID", `the provider profile is not a version ${PROFILE_VERSION} profile: ${issue.path.join(".") || "(root)"} ${issue.message}`);
  }
  return parsed.data as unknown as ProviderProfile;
}
