/**
 * Typed read hooks from wagmi's codegen factories over the sdk's generated ABIs (never a copy).
 * The addresses are runtime config, so each hook takes `address` at the call site
 * (`useProtocol()` gives them).
 */
"use client";
import { createUseReadContract } from "wagmi/codegen";
import { jobMarketAbi, providerRegistryAbi, renderTokenAbi } from "@tessellate/sdk/contracts.generated";

export { jobMarketAbi, providerRegistryAbi, renderTokenAbi };

export const useReadMarket = createUseReadContract({ abi: jobMarketAbi });
export const useReadRegistry = createUseReadContract({ abi: providerRegistryAbi });
export const useReadToken = createUseReadContract({ abi: renderTokenAbi });
