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
}

export interface ProviderProfile {
  version: typeof PROFILE_VERSION;
  address: `0x${string}`;
  engines: EngineBenchmark[];
  /** The builtin engine's score: what `estimateJob` takes as `benchmarkScore`. */
  benchmarkScore: number | null;
  hardware: { cpus: number; cpuModel: string; memoryBytes: number };
  limits: { maxConcurrentSegments: number; cpuThreads: number; memoryBytes: number; maxSceneBytes: number; workHours: string };
  pricing: { minRewardPerRenderSecondWei: string };
  updatedAt: string;
}

/** What a reader relies on; other fields are kept as they are (a newer node may add some). */
const profileSchema = z.looseObject({
  version: z.literal(PROFILE_VERSION),
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  engines: z.array(z.looseObject({ name: z.string().min(1), version: z.string().min(1), score: z.number(), seconds: z.number() })),
});

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
