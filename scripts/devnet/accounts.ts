/**
 * Devnet accounts: Hardhat's well-known test mnemonic, so the local chain's prefunded accounts
 * sign for the deployer, the requester and the providers. These keys are public: never use them
 * on a real network.
 */
import { mnemonicToAccount, type HDAccount } from "viem/accounts";

export const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";

/** Index 0 deploys and holds the token supply; 1 is the requester; 2.. are providers. */
export const DEVNET_ROLES = { deployer: 0, requester: 1, firstProvider: 2 } as const;

export function devnetAccount(index: number): HDAccount {
  return mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex: index });
}

/** The private key of a devnet account, for a provider's environment variable. */
export function devnetPrivateKey(index: number): `0x${string}` {
  const key = devnetAccount(index).getHdKey().privateKey;
  if (!key) throw new Error(`no private key for devnet account ${index}`);
  return `0x${Buffer.from(key).toString("hex")}`;
}
