/**
 * The shell of every page. It is rendered per request (`connection()`), reading the runtime
 * config from the server's environment, so the same build serves any chain.
 */
import type { Metadata, Viewport } from "next";
import { connection } from "next/server";
import type { ReactNode } from "react";
import { loadRuntimeConfig } from "../lib/server/config.ts";
import { Providers } from "../components/Providers.tsx";
import { Header } from "../components/Header.tsx";
import "./globals.css";

export const metadata: Metadata = {
  title: "Tessellate",
  description: "A rendering marketplace settled on an EVM chain.",
  icons: { icon: "data:," },
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default async function RootLayout({ children }: { children: ReactNode }) {
  await connection();
  const result = loadRuntimeConfig();
  return (
    <html lang="en">
      <body>
        {result.ok ? (
          <Providers config={result.config}>
            <Header />
            <main>{children}</main>
          </Providers>
        ) : (
          <main>
            <h1>The dApp is not configured</h1>
            <p>The server could not build its runtime configuration:</p>
            <ul data-testid="config-problems">
              {result.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </main>
        )}
      </body>
    </html>
  );
}
