"use client";
/** /provider (the connected account, or an address typed in) and /provider/<address>. */
import { useState } from "react";
import { useRouter } from "next/navigation";
import { useAccount } from "wagmi";
import { getAddress, isAddress } from "viem";
import { ProviderView } from "./ProviderView.tsx";

export function ProviderLookup({ address }: { address?: string }) {
  const account = useAccount();
  const router = useRouter();
  const [typed, setTyped] = useState("");
  const valid = address !== undefined && isAddress(address, { strict: false });
  const shown = address === undefined ? account.address : valid ? getAddress(address) : undefined;
  const typedValid = isAddress(typed.trim(), { strict: false });

  return (
    <>
      <h1>Provider</h1>
      <form
        className="panel row"
        onSubmit={(e) => {
          e.preventDefault();
          if (typedValid) router.push(`/provider/${getAddress(typed.trim())}`);
        }}
      >
        <label>
          Look up any provider
          <input data-testid="lookup-address" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="0x…" />
        </label>
        <button type="submit" disabled={!typedValid}>
          Show
        </button>
        {typed.trim() !== "" && !typedValid && <p className="tx tx-error">Not an address: 0x followed by 40 hex digits.</p>}
      </form>
      {address !== undefined && !valid && (
        <p className="tx tx-error" role="alert">
          &quot;{address}&quot; is not an address (0x followed by 40 hex digits).
        </p>
      )}
      {shown ? (
        <ProviderView key={shown} address={shown} />
      ) : (
        address === undefined && <p className="muted">Connect a wallet to manage your provider account, or look one up above.</p>
      )}
    </>
  );
}
