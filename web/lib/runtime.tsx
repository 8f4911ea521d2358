"use client";
/**
 * The runtime config in React context, and the facts about the token every page shows amounts
 * in (symbol and decimals, read from the token contract, not assumed).
 */
import { createContext, useContext } from "react";
import type { RuntimeConfig } from "./config.ts";
import { useReadToken } from "./contracts.ts";

const RuntimeConfigContext = createContext<RuntimeConfig | null>(null);
export const RuntimeConfigProvider = RuntimeConfigContext.Provider;

export function useRuntimeConfig(): RuntimeConfig {
  const config = useContext(RuntimeConfigContext);
  if (!config) throw new Error("useRuntimeConfig outside <Providers>: the layout must wrap the page in it.");
  return config;
}

export function useToken(): { symbol: string | undefined; decimals: number | undefined } {
  const { addresses } = useRuntimeConfig();
  const symbol = useReadToken({ address: addresses.token, functionName: "symbol", query: { staleTime: Infinity } });
  const decimals = useReadToken({ address: addresses.token, functionName: "decimals", query: { staleTime: Infinity } });
  return { symbol: symbol.data, decimals: decimals.data };
}
