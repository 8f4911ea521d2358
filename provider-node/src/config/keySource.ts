/**
 * Where the node's signing key comes from: the TESSELLATE_PRIVATE_KEY environment variable, or a
 * JSON keystore (Web3 Secret Storage v3, as written by geth, ethers and Hardhat's tooling) whose
 * password is in TESSELLATE_KEYSTORE_PASSWORD. There is no default key, and no message, log line
 * or error ever contains the key or the password.
 */
import { readFile } from "node:fs/promises";
import type { Hex } from "viem";
import { privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { ENV } from "@tessellate/sdk/envNames";
import { FatalError } from "@tessellate/sdk/errors";
import { decryptKeystore } from "@tessellate/sdk/node";

export { decryptKeystore, encryptKeystore } from "@tessellate/sdk/node";

export const PRIVATE_KEY_ENV = ENV.privateKey;
export const KEYSTORE_PASSWORD_ENV = ENV.keystorePassword;

/**
 * The account that signs for this node.
 * @throws FatalError `KEY_MISSING` / `KEY_INVALID` / `KEYSTORE_INVALID` saying what to set.
 */
export async function loadAccount(keystoreFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<PrivateKeyAccount> {
  const raw = env[PRIVATE_KEY_ENV];
  if (raw && keystoreFile) {
    throw new FatalError("KEY_INVALID", `Both ${PRIVATE_KEY_ENV} and a keystore (key.keystoreFile / TESSELLATE_KEYSTORE) are set — keep only one key source`);
  }
  if (raw) return privateKeyToAccount(normalizePrivateKey(raw, PRIVATE_KEY_ENV));
  if (keystoreFile) {
    const password = env[KEYSTORE_PASSWORD_ENV];
    if (password === undefined) {
      throw new FatalError("KEY_MISSING", `The keystore ${keystoreFile} needs its password: set ${KEYSTORE_PASSWORD_ENV} in the environment`);
    }
    let json: string;
    try {
      json = await readFile(keystoreFile, "utf8");
    } catch (error) {
      throw new FatalError("KEYSTORE_INVALID", `Cannot read the keystore ${keystoreFile} (${(error as NodeJS.ErrnoException).code ?? "error"}) — check key.keystoreFile / TESSELLATE_KEYSTORE`, { cause: error });
    }
    return privateKeyToAccount(await decryptKeystore(json, password, keystoreFile));
  }
  throw new FatalError(
    "KEY_MISSING",
    `No signing key: set ${PRIVATE_KEY_ENV} (0x + 64 hex digits), or point key.keystoreFile / TESSELLATE_KEYSTORE at a JSON keystore and set ${KEYSTORE_PASSWORD_ENV}`,
  );
}

function normalizePrivateKey(raw: string, source: string): Hex {
  const key = raw.trim().startsWith("0x") ? raw.trim() : `0x${raw.trim()}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new FatalError("KEY_INVALID", `${source} is not a private key — it must be 64 hex digits, optionally prefixed with 0x`);
  }
  return key as Hex;
}
