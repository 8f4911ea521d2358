"use client";
/**
 * What registered providers advertise: each provider's latest profile CID from the registry's
 * `ProviderRegistered` / `ProfileUpdated` events (read by topic in bounded block ranges), the
 * profile read from the IPFS gateway, and per engine and exact version how many providers offer
 * it (the CLI's `job submit` defaults its engine version the same way, cli/src/engineOffers.ts).
 * A provider that is no longer registered or whose profile cannot be read is left out and
 * counted, so the page can say so.
 */
import { useQuery } from "@tanstack/react-query";
import { usePublicClient } from "wagmi";
import { getAbiItem, type Address } from "viem";
import { MAX_PROFILE_BYTES, parseProviderProfile, providerRegistryAbi } from "@tessellate/sdk";
import { useRuntimeConfig } from "./runtime.tsx";

export interface EngineOffer {
  name: string;
  version: string;
  providers: Address[];
}

export interface EngineOffers {
  offers: EngineOffer[];
  /** Providers registered now. */
  registered: number;
  /** Registered providers whose profile could not be read or holds no engine list. */
  unreadable: Address[];
  /** The builtin benchmark scores the profiles advertise (thousands of samples per second), for the estimate. */
  benchmarkScores: number[];
}

const LOG_RANGE = 5_000n;

export function useEngineOffers() {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  return useQuery({
    queryKey: ["engine-offers", rc.chainId, rc.addresses.registry],
    enabled: client !== undefined,
    refetchInterval: 15_000,
    queryFn: async (): Promise<EngineOffers> => {
      const latest = await client!.getBlockNumber();
      const events = [getAbiItem({ abi: providerRegistryAbi, name: "ProviderRegistered" }), getAbiItem({ abi: providerRegistryAbi, name: "ProfileUpdated" })];
      const profileOf = new Map<Address, string>();
      for (let from = 0n; from <= latest; from += LOG_RANGE) {
        const to = from + LOG_RANGE - 1n < latest ? from + LOG_RANGE - 1n : latest;
        const logs = await client!.getLogs({ address: rc.addresses.registry, events, fromBlock: from, toBlock: to, strict: true });
        for (const log of logs) profileOf.set(log.args.provider as Address, log.args.profileCid as string);
      }
      const providers = [...profileOf.keys()];
      const views = await Promise.all(
        providers.map((p) => client!.readContract({ address: rc.addresses.registry, abi: providerRegistryAbi, functionName: "providerOf", args: [p] })),
      );
      const registered = providers.filter((_, i) => views[i]!.registered);
      const byEngine = new Map<string, EngineOffer>();
      const unreadable: Address[] = [];
      const benchmarkScores: number[] = [];
      await Promise.all(
        registered.map(async (provider) => {
          const cid = profileOf.get(provider)!;
          try {
            const response = await fetch(`${rc.ipfsGatewayUrl.replace(/\/+$/, "")}/ipfs/${cid}`, { signal: AbortSignal.timeout(10_000) });
            if (!response.ok) throw new Error(`HTTP ${response.status}`);
            const bytes = new Uint8Array(await response.arrayBuffer());
            if (bytes.byteLength > MAX_PROFILE_BYTES) throw new Error("too large for a profile");
            // The sdk's profile reader (the CLI's too); a profile naming another address is not this provider's.
            const profile = parseProviderProfile(bytes);
            if (profile.address.toLowerCase() !== provider.toLowerCase()) throw new Error("the profile names another address");
            for (const engine of profile.engines) {
              const key = `${engine.name}\u0000${engine.version}`;
              if (!byEngine.has(key)) byEngine.set(key, { name: engine.name, version: engine.version, providers: [] });
              const offer = byEngine.get(key)!;
              if (!offer.providers.includes(provider)) offer.providers.push(provider);
            }
            if (typeof profile.benchmarkScore === "number" && profile.benchmarkScore > 0) benchmarkScores.push(profile.benchmarkScore);
          } catch {
            unreadable.push(provider);
          }
        }),
      );
      const offers = [...byEngine.values()].sort((a, b) => b.providers.length - a.providers.length || a.name.localeCompare(b.name) || b.version.localeCompare(a.version));
      return { offers, registered: registered.length, unreadable, benchmarkScores };
    },
  });
}
