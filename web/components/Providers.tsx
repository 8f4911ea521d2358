"use client";
/** Client-side providers: runtime config, TanStack Query and wagmi, built once per page load. */
import { useState, type ReactNode } from "react";
import { WagmiProvider } from "wagmi";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { RuntimeConfig } from "../lib/config.ts";
import { RuntimeConfigProvider } from "../lib/runtime.tsx";
import { createWagmiConfig } from "../lib/wagmi.ts";

export function Providers({ config, children }: { config: RuntimeConfig; children: ReactNode }) {
  const [wagmiConfig] = useState(() => createWagmiConfig(config));
  const [queryClient] = useState(
    () => new QueryClient({ defaultOptions: { queries: { refetchInterval: config.pollingIntervalMs, retry: 1 } } }),
  );
  return (
    <RuntimeConfigProvider value={config}>
      <WagmiProvider config={wagmiConfig}>
        <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
      </WagmiProvider>
    </RuntimeConfigProvider>
  );
}
