import type { Address } from "viem";

/** The EIP-2612 `Permit` struct, as OpenZeppelin's ERC20Permit (RenderToken) hashes it. */
export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** What the token's `eip712Domain()` (EIP-5267) returns. */
export type Eip712DomainView = readonly [fields: unknown, name: string, version: string, chainId: bigint, verifyingContract: Address, salt: unknown, extensions: unknown];

/**
 * The typed data to sign for `createJobWithPermit`: a permit of `value` to `spender` (the
 * market) on the token's own EIP-712 domain (read from `eip712Domain()`), with the owner's
 * current `nonces(owner)`. Browser-safe: the CLI's `--permit` and the dApp's New job sign this.
 */
export function permitTypedData(domain: Eip712DomainView, message: { owner: Address; spender: Address; value: bigint; nonce: bigint; deadline: bigint }) {
  const [, name, version, chainId, verifyingContract] = domain;
  return { domain: { name, version, chainId: Number(chainId), verifyingContract }, types: PERMIT_TYPES, primaryType: "Permit" as const, message };
}

/** How long a permit the CLI or the dApp signs stays valid, in seconds (it is spent in the next transaction). */
export const PERMIT_VALIDITY_SECONDS = 3600n;
