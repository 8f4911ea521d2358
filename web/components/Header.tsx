"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { ConnectMenu } from "./ConnectMenu.tsx";
import { useRuntimeConfig } from "../lib/runtime.tsx";

const PAGES = [
  { href: "/job/new", label: "New job" },
  { href: "/network", label: "Network" },
  { href: "/provider", label: "Provider" },
  { href: "/audit", label: "Audit" },
];

export function Header() {
  const pathname = usePathname();
  const rc = useRuntimeConfig();
  return (
    <header className="header">
      <Link href="/network" className="brand">
        Tessellate
      </Link>
      <nav>
        {PAGES.map((p) => (
          <Link key={p.href} href={p.href} className={pathname.startsWith(p.href) ? "active" : undefined}>
            {p.label}
          </Link>
        ))}
      </nav>
      <span className="chain muted" title={rc.rpcUrl}>
        {rc.chainName} ({rc.chainId})
      </span>
      <ConnectMenu />
    </header>
  );
}
