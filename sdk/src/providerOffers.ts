/**
 * What the registered providers advertise, read once for every program: each provider's latest
 * profile CID from the registry's `ProviderRegistered` / `ProfileUpdated` events (in bounded block
 * ranges, as public RPC endpoints cap `eth_getLogs`), only providers still registered
 * (`providerOf`), each profile fetched through any `cat` (the CLI's Kubo client, the dApp's
 * gateway reader) within MAX_PROFILE_BYTES, parsed by the sdk and checked to name its own
 * provider. A profile that cannot be read is counted, not fatal. The CLI's `job submit` (default
 * engine version, the "nobody offers this" warning, the estimate) and the dApp's New job page use
 * it. Browser-safe.
 */
import { getAbiItem, type Address, type PublicClient } from "viem";
import { providerRegistryAbi } from "./contracts.generated.ts";
import { toProtocolError } from "./market.ts";
import { MAX_PROFILE_BYTES, parseProviderProfile, profileCpuKernel, type ProviderProfile } from "./profile.ts";
import type { Storage } from "./storage.ts";
import type { EngineName, VerificationMode } from "./manifest.ts";

/** Blocks per `eth_getLogs` request (public RPC endpoints cap the range). */
export const PROFILE_LOG_CHUNK_BLOCKS = 5_000n;

const PROFILE_EVENTS = [getAbiItem({ abi: providerRegistryAbi, name: "ProviderRegistered" }), getAbiItem({ abi: providerRegistryAbi, name: "ProfileUpdated" })];

/** One registered provider and its profile (or why it could not be read). */
export interface RegisteredProvider {
  address: Address;
  profileCid: string;
  profile?: ProviderProfile;
  /** Set when the profile could not be fetched or parsed, or names another address. */
  unreadable?: string;
}

export interface ProviderScan {
  /** Registered providers, in the order they first registered. */
  providers: RegisteredProvider[];
  /** The block the scan read up to. */
  blockNumber: bigint;
}

/** The latest profile CID of every provider that ever registered, from the registry's events up to `toBlock`. */
export async function profileCidsFromEvents(publicClient: Pick<PublicClient, "getLogs">, registry: Address, toBlock: bigint): Promise<Map<Address, string>> {
  const profiles = new Map<Address, string>();
  for (let start = 0n; start <= toBlock; start += PROFILE_LOG_CHUNK_BLOCKS) {
    const end = start + PROFILE_LOG_CHUNK_BLOCKS - 1n < toBlock ? start + PROFILE_LOG_CHUNK_BLOCKS - 1n : toBlock;
    let logs;
    try {
      logs = await publicClient.getLogs({ address: registry, events: PROFILE_EVENTS, fromBlock: start, toBlock: end, strict: true });
    } catch (error) {
      throw toProtocolError(error, "reading the providers' profiles (ProviderRegistered / ProfileUpdated events)");
    }
    for (const log of logs) profiles.set(log.args.provider as Address, log.args.profileCid as string);
  }
  return profiles;
}

/**
 * Every provider registered now, with its profile. `readProfiles: false` returns the addresses
 * and CIDs only (no IPFS reads).
 */
export async function scanProviders(
  chain: { publicClient: Pick<PublicClient, "getLogs" | "getBlockNumber" | "readContract">; registry: Address },
  storage: Pick<Storage, "cat">,
  options: { signal?: AbortSignal; readProfiles?: boolean } = {},
): Promise<ProviderScan> {
  const { publicClient, registry } = chain;
  const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 });
  const cids = await profileCidsFromEvents(publicClient, registry, blockNumber);
  const addresses = [...cids.keys()];
  let views;
  try {
    views = await Promise.all(addresses.map((p) => publicClient.readContract({ address: registry, abi: providerRegistryAbi, functionName: "providerOf", args: [p], blockNumber })));
  } catch (error) {
    throw toProtocolError(error, "reading which providers are registered (providerOf)");
  }
  const registered = addresses.filter((_, i) => (views[i] as { registered: boolean }).registered);
  const providers = await Promise.all(
    registered.map(async (address): Promise<RegisteredProvider> => {
      const profileCid = cids.get(address)!;
      if (options.readProfiles === false) return { address, profileCid };
      try {
        const profile = parseProviderProfile(await storage.cat(profileCid, { maxBytes: MAX_PROFILE_BYTES, signal: options.signal }));
        if (profile.address.toLowerCase() !== address.toLowerCase()) throw new Error(`the profile names another address (${profile.address})`);
        return { address, profileCid, profile };
      } catch (error) {
        if (options.signal?.aborted) throw error;
        return { address, profileCid, unreadable: (error as Error).message };
      }
    }),
  );
  return { providers, blockNumber };
}

/** Verification modes a profile advertises; a profile from before the field existed renders exact jobs only. */
export function verificationModesOf(profile: ProviderProfile): readonly string[] {
  return profile.verificationModes ?? ["exact"];
}

/** One engine at one exact version, and who offers it. */
export interface EngineOffer {
  name: string;
  version: string;
  providers: Address[];
}

/** Every engine and exact version the readable profiles advertise; most providers first, then by name, the highest version first. */
export function engineOffersOf(scan: ProviderScan): EngineOffer[] {
  const byKey = new Map<string, EngineOffer>();
  for (const { address, profile } of scan.providers) {
    for (const engine of profile?.engines ?? []) {
      const key = `${engine.name}\u0000${engine.version}`;
      if (!byKey.has(key)) byKey.set(key, { name: engine.name, version: engine.version, providers: [] });
      const offer = byKey.get(key)!;
      if (!offer.providers.includes(address)) offer.providers.push(address);
    }
  }
  return [...byKey.values()].sort(
    (a, b) => b.providers.length - a.providers.length || a.name.localeCompare(b.name) || b.version.localeCompare(a.version, "en", { numeric: true }),
  );
}

export interface OfferedVersion {
  version: string;
  /** How many registered providers advertise it. */
  providers: number;
}

/** What the registered providers advertise for one engine. */
export interface EngineVersions {
  engine: string;
  /** Most providers first; among equals, the highest version first. */
  versions: OfferedVersion[];
  /** Providers registered on the registry. */
  registered: number;
  /** Registered providers whose profile could not be fetched or parsed (not counted for any version). */
  unreadable: number;
  /**
   * How many of the providers offering the engine render with each Cycles CPU kernel class
   * ("AVX2", "SSE4.1", …, "unknown" for older profiles), most first: honest renders from
   * different classes differ in a few pixels, which only tolerant verification accepts.
   */
  cpuKernels: Array<{ kernel: string; providers: number }>;
}

export function engineVersionsOf(scan: ProviderScan, engine: string): EngineVersions {
  const versions = engineOffersOf(scan)
    .filter((o) => o.name === engine)
    .map((o) => ({ version: o.version, providers: o.providers.length }));
  return { engine, versions, registered: scan.providers.length, unreadable: scan.providers.filter((p) => p.unreadable !== undefined).length, cpuKernels: cpuKernelCounts(scan, engine) };
}

/**
 * How many registered providers with a readable profile render with each CPU kernel class
 * (`profileCpuKernel`: "AVX2", "SSE4.1", …, "unknown" for older profiles), most first, then by
 * name: how heterogeneous the network's processors are (honest renders from different classes
 * differ in a few pixels). With `engine`, only the providers offering it.
 */
export function cpuKernelCounts(scan: ProviderScan, engine?: string): Array<{ kernel: string; providers: number }> {
  const kernels = new Map<string, number>();
  for (const { profile } of scan.providers) {
    if (!profile || (engine !== undefined && !profile.engines.some((e) => e.name === engine))) continue;
    const kernel = profileCpuKernel(profile);
    kernels.set(kernel, (kernels.get(kernel) ?? 0) + 1);
  }
  return [...kernels].map(([kernel, providers]) => ({ kernel, providers })).sort((a, b) => b.providers - a.providers || a.kernel.localeCompare(b.kernel));
}

/** One line saying which version was taken and how many providers offer it (and what else is offered). */
export function describeEngineVersion(offers: EngineVersions, chosen: OfferedVersion): string {
  const others = offers.versions.filter((v) => v.version !== chosen.version).map((v) => `${v.version} by ${v.providers}`);
  return (
    `${offers.engine} ${chosen.version}, the version ${chosen.providers} of ${offers.registered} registered provider${offers.registered === 1 ? "" : "s"} advertise` +
    `${others.length ? ` (also ${others.join(", ")})` : ""}${offers.unreadable ? `; ${offers.unreadable} profile${offers.unreadable === 1 ? "" : "s"} unreadable` : ""}` +
    (offers.engine === "blender" && offers.cpuKernels.length > 0 ? `; CPU kernels: ${offers.cpuKernels.map((k) => `${k.kernel} by ${k.providers}`).join(", ")}` : "")
  );
}

/** What a job needs of a provider, as the registry's profiles can tell. */
export interface JobNeeds {
  engine: EngineName;
  version: string;
  verification: VerificationMode;
}

/** How many registered providers offer each part of what a job needs, and all of it together. */
export interface NeedsCoverage {
  registered: number;
  unreadable: number;
  engine: number;
  engineVersion: number;
  verification: number;
  /** Providers that offer the engine at that version and the verification mode. */
  all: number;
}

export function needsCoverage(scan: ProviderScan, needs: JobNeeds): NeedsCoverage {
  const readable = scan.providers.flatMap((p) => (p.profile ? [p.profile] : []));
  const hasEngine = (p: ProviderProfile) => p.engines.some((e) => e.name === needs.engine);
  const hasVersion = (p: ProviderProfile) => p.engines.some((e) => e.name === needs.engine && e.version === needs.version);
  const hasMode = (p: ProviderProfile) => verificationModesOf(p).includes(needs.verification);
  return {
    registered: scan.providers.length,
    unreadable: scan.providers.length - readable.length,
    engine: readable.filter(hasEngine).length,
    engineVersion: readable.filter(hasVersion).length,
    verification: readable.filter(hasMode).length,
    all: readable.filter((p) => hasVersion(p) && hasMode(p)).length,
  };
}
