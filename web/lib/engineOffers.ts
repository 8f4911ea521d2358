"use client";
/**
 * What registered providers advertise, for the New job page: the sdk's provider scan
 * (`scanProviders`: each registered provider's latest profile from the registry's events, read
 * from the IPFS gateway and checked by the sdk; the CLI's `job submit` uses the same scan) folded
 * into per engine and exact version how many providers offer it. A provider whose profile cannot
 * be read is left out and counted, so the page can say so.
 */
import { useQuery } from "@tanstack/react-query";
import { usePublicClient } from "wagmi";
import type { Address } from "viem";
import { engineOffersOf, needsCoverage, scanProviders, type EngineOffer, type JobNeeds } from "@tessellate/sdk";
import { gatewayCat } from "./composite.ts";
import { useRuntimeConfig } from "./runtime.tsx";

export type { EngineOffer } from "@tessellate/sdk";

export interface EngineOffers {
  offers: EngineOffer[];
  /** Providers registered now. */
  registered: number;
  /** Registered providers whose profile could not be read or holds no engine list. */
  unreadable: Address[];
  /** The builtin benchmark scores the profiles advertise (thousands of samples per second), for the estimate. */
  benchmarkScores: number[];
  /** How many registered providers offer all a job needs (engine, exact version, verification mode). */
  eligibleFor(needs: JobNeeds): number;
}

export function useEngineOffers() {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  return useQuery({
    queryKey: ["engine-offers", rc.chainId, rc.addresses.registry],
    enabled: client !== undefined,
    refetchInterval: 15_000,
    queryFn: async ({ signal }): Promise<EngineOffers> => {
      const scan = await scanProviders({ publicClient: client!, registry: rc.addresses.registry }, gatewayCat(rc.ipfsGatewayUrl), { signal });
      const benchmarkScores = scan.providers.flatMap((p) => (typeof p.profile?.benchmarkScore === "number" && p.profile.benchmarkScore > 0 ? [p.profile.benchmarkScore] : []));
      return {
        offers: engineOffersOf(scan),
        registered: scan.providers.length,
        unreadable: scan.providers.filter((p) => p.unreadable !== undefined).map((p) => p.address),
        benchmarkScores,
        eligibleFor: (needs) => needsCoverage(scan, needs).all,
      };
    },
  });
}
