/**
 * Which versions of an engine the registered providers advertise. A job's manifest names one
 * exact engine version and only providers running it take the job, so when the requester gives
 * no `--engine-version`, `job submit` takes the version most registered providers advertise in
 * their profiles (ProviderRegistered / ProfileUpdated on the registry → profile JSON on IPFS) —
 * never one detected on the requester's machine, which may have no engine or another version.
 */
import { getAbiItem, type Address } from "viem";
import { providerRegistryAbi } from "@tessellate/sdk/contracts.generated";
import { toProtocolError, type MarketClient } from "@tessellate/sdk/market";
import { MAX_PROFILE_BYTES, parseProviderProfile, profileCpuKernel } from "@tessellate/sdk/profile";
import type { Storage } from "@tessellate/sdk/storage";
import { LOG_CHUNK_BLOCKS } from "./chainReads.ts";

export interface OfferedVersion {
  version: string;
  /** How many registered providers advertise it. */
  providers: number;
}

export interface EngineOffers {
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

const PROFILE_EVENTS = [getAbiItem({ abi: providerRegistryAbi, name: "ProviderRegistered" }), getAbiItem({ abi: providerRegistryAbi, name: "ProfileUpdated" })];

/** The latest profile CID of every registered provider, from the registry's events. */
export async function registeredProfiles(market: MarketClient): Promise<Map<Address, string>> {
  const { publicClient } = market.conn;
  const latest = await market.blockNumber();
  const profiles = new Map<Address, string>();
  for (let start = 0n; start <= latest; start += LOG_CHUNK_BLOCKS) {
    const end = start + LOG_CHUNK_BLOCKS - 1n < latest ? start + LOG_CHUNK_BLOCKS - 1n : latest;
    let logs;
    try {
      logs = await publicClient.getLogs({ address: market.addresses.registry, events: PROFILE_EVENTS, fromBlock: start, toBlock: end, strict: true });
    } catch (error) {
      throw toProtocolError(error, "reading the providers' profiles (ProviderRegistered / ProfileUpdated events)");
    }
    for (const log of logs) profiles.set(log.args.provider as Address, log.args.profileCid as string);
  }
  return profiles;
}

/** Orders versions: most providers first, then the highest version (numeric-aware). */
export function rankVersions(counts: ReadonlyMap<string, number>): OfferedVersion[] {
  return [...counts]
    .map(([version, providers]) => ({ version, providers }))
    .sort((a, b) => b.providers - a.providers || b.version.localeCompare(a.version, "en", { numeric: true }));
}

/** What the registered providers advertise for `engine`. Profiles that cannot be read are counted, not fatal. */
export async function engineOffers(market: MarketClient, storage: Pick<Storage, "cat">, engine: string, signal?: AbortSignal): Promise<EngineOffers> {
  const profiles = await registeredProfiles(market);
  const counts = new Map<string, number>();
  const kernels = new Map<string, number>();
  let unreadable = 0;
  await Promise.all(
    [...profiles].map(async ([address, cid]) => {
      let versions: string[];
      let kernel: string;
      try {
        const profile = parseProviderProfile(await storage.cat(cid, { maxBytes: MAX_PROFILE_BYTES, signal }));
        if (profile.address.toLowerCase() !== address.toLowerCase()) throw new Error("the profile names another address");
        versions = [...new Set(profile.engines.filter((e) => e.name === engine).map((e) => e.version))];
        kernel = profileCpuKernel(profile);
      } catch {
        unreadable++;
        return;
      }
      for (const version of versions) counts.set(version, (counts.get(version) ?? 0) + 1);
      if (versions.length > 0) kernels.set(kernel, (kernels.get(kernel) ?? 0) + 1);
    }),
  );
  const cpuKernels = [...kernels].map(([kernel, providers]) => ({ kernel, providers })).sort((a, b) => b.providers - a.providers || a.kernel.localeCompare(b.kernel));
  return { engine, versions: rankVersions(counts), registered: profiles.size, unreadable, cpuKernels };
}

/** One line saying which version was taken and how many providers offer it (and what else is offered). */
export function describeOffer(offers: EngineOffers, chosen: OfferedVersion): string {
  const others = offers.versions.filter((v) => v.version !== chosen.version).map((v) => `${v.version} by ${v.providers}`);
  return (
    `${offers.engine} ${chosen.version}, the version ${chosen.providers} of ${offers.registered} registered provider${offers.registered === 1 ? "" : "s"} advertise` +
    `${others.length ? ` (also ${others.join(", ")})` : ""}${offers.unreadable ? `; ${offers.unreadable} profile${offers.unreadable === 1 ? "" : "s"} unreadable` : ""}` +
    (offers.engine === "blender" && offers.cpuKernels.length > 0 ? `; CPU kernels: ${offers.cpuKernels.map((k) => `${k.kernel} by ${k.providers}`).join(", ")}` : "")
  );
}
