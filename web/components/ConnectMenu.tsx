"use client";
/**
 * The wallet menu (no wallet kit supports wagmi 3 yet): every wallet announced through EIP-6963,
 * the generic injected provider when none announced itself, WalletConnect when a project id is
 * configured, and on the devnet a picker over its funded accounts. Shows the connected account,
 * a wrong-network warning with a switch button, and connection errors (a rejection included).
 */
import { useEffect, useRef, useState } from "react";
import { useAccount, useConnect, useConnectors, useDisconnect, useSwitchChain } from "wagmi";
import { describeError } from "../lib/txError.ts";
import { shortAddress } from "../lib/format.ts";
import { useRuntimeConfig } from "../lib/runtime.tsx";
import { DEV_CONNECTOR_PREFIX } from "../lib/wagmi.ts";

export function ConnectMenu() {
  const rc = useRuntimeConfig();
  const account = useAccount();
  const connectors = useConnectors();
  const { connectAsync, isPending } = useConnect();
  const { disconnect } = useDisconnect();
  const { switchChainAsync } = useSwitchChain();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const menuRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent) => {
      if (menuRef.current && !menuRef.current.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);

  const dev = connectors.filter((c) => c.id.startsWith(DEV_CONNECTOR_PREFIX));
  const announced = connectors.filter((c) => !c.id.startsWith(DEV_CONNECTOR_PREFIX) && c.type === "injected" && c.id !== "injected");
  // The generic connector talks to window.ethereum: offered only when no wallet announced itself
  // through EIP-6963 and one is actually there (the menu only renders in the browser).
  const hasWindowEthereum = typeof window !== "undefined" && "ethereum" in window;
  const generic = connectors.filter((c) => c.id === "injected" && hasWindowEthereum);
  const browserWallets = announced.length > 0 ? announced : generic;
  const others = connectors.filter((c) => c.type !== "injected");

  async function connect(connector: (typeof connectors)[number]) {
    setError(null);
    try {
      await connectAsync({ connector, chainId: rc.chainId });
      setOpen(false);
    } catch (e) {
      setError(describeError(e, `Connect ${connector.name}`).message);
    }
  }

  if (account.status === "connected") {
    const wrongChain = account.chainId !== rc.chainId;
    return (
      <div className="wallet">
        {wrongChain && (
          <button
            className="warn"
            data-testid="switch-chain"
            onClick={() =>
              switchChainAsync({ chainId: rc.chainId }).catch((e: unknown) => setError(describeError(e, `Switch to ${rc.chainName}`).message))
            }
          >
            Wrong network — switch to {rc.chainName}
          </button>
        )}
        <span className="account" data-testid="connected-account" title={account.address}>
          {account.connector?.icon && <img src={account.connector.icon} alt="" width={16} height={16} />}
          {shortAddress(account.address)}
        </span>
        <button className="secondary" onClick={() => disconnect()}>
          Disconnect
        </button>
        {error && <p className="tx tx-error" role="alert">{error}</p>}
      </div>
    );
  }

  return (
    <div className="wallet" ref={menuRef}>
      <button data-testid="connect" onClick={() => setOpen(!open)} disabled={isPending}>
        {isPending ? "Connecting…" : "Connect wallet"}
      </button>
      {open && (
        <div className="menu" role="menu">
          <p className="menu-title">Browser wallets</p>
          {browserWallets.length === 0 && <p className="muted">No wallet found in this browser.</p>}
          {browserWallets.map((c) => (
            <button key={c.uid} role="menuitem" data-testid={`wallet-${c.id}`} onClick={() => void connect(c)}>
              {c.icon && <img src={c.icon} alt="" width={20} height={20} />}
              {c.name}
            </button>
          ))}
          {others.map((c) => (
            <button key={c.uid} role="menuitem" data-testid={`wallet-${c.id}`} onClick={() => void connect(c)}>
              {c.name}
            </button>
          ))}
          {dev.length > 0 && (
            <>
              <p className="menu-title">Devnet accounts (public keys — local chain only)</p>
              {dev.map((c) => (
                <button key={c.uid} role="menuitem" data-testid={`wallet-${c.id}`} onClick={() => void connect(c)}>
                  {c.name}
                </button>
              ))}
            </>
          )}
        </div>
      )}
      {error && <p className="tx tx-error" role="alert" data-testid="connect-error">{error}</p>}
    </div>
  );
}
