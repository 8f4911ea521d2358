/**
 * Ethereum V3 keystore files (the JSON that geth, ethers, Foundry's `cast wallet` and MetaMask
 * exports write): scrypt or PBKDF2 key derivation, AES-128-CTR, keccak256 MAC. Decrypted with
 * Node's own crypto, so no wallet library is needed. The key never leaves this module except as
 * the return value; errors never contain it.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes, randomUUID, scryptSync, timingSafeEqual } from "node:crypto";
import { keccak256, type Hex } from "viem";
import { privateKeyToAddress } from "viem/accounts";
import { z } from "zod";
import { FatalError } from "@tessellate/sdk/errors";

const hex = z.string().regex(/^(0x)?[0-9a-fA-F]*$/, "must be hex");

const keystoreSchema = z.object({
  version: z.literal(3),
  address: z.string().optional(),
  crypto: z.object({
    cipher: z.literal("aes-128-ctr"),
    ciphertext: hex,
    cipherparams: z.object({ iv: hex }),
    kdf: z.enum(["scrypt", "pbkdf2"]),
    kdfparams: z.union([
      z.object({ dklen: z.int().min(32), salt: hex, n: z.int().min(2), r: z.int().min(1), p: z.int().min(1) }),
      z.object({ dklen: z.int().min(32), salt: hex, c: z.int().min(1), prf: z.literal("hmac-sha256") }),
    ]),
    mac: hex,
  }),
});

function bytes(value: string): Buffer {
  return Buffer.from(value.replace(/^0x/, ""), "hex");
}

function deriveKey(password: string, params: z.output<typeof keystoreSchema>["crypto"]["kdfparams"]): Buffer {
  const pass = Buffer.from(password.normalize("NFKD"), "utf8");
  if ("n" in params) {
    const maxmem = 128 * params.n * params.r * (params.p + 1) + 1024 * 1024;
    return scryptSync(pass, bytes(params.salt), params.dklen, { N: params.n, r: params.r, p: params.p, maxmem });
  }
  return pbkdf2Sync(pass, bytes(params.salt), params.c, params.dklen, "sha256");
}

function macOf(derived: Buffer, ciphertext: Buffer): Buffer {
  return bytes(keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext])));
}

/**
 * Decrypts a V3 keystore (the file's text) with its password.
 * @throws FatalError `CONFIG_INVALID` when the file is not a V3 keystore or the password is wrong.
 */
export function decryptKeystore(json: string, password: string, source = "the keystore"): Hex {
  let parsed: z.output<typeof keystoreSchema>;
  try {
    const raw = JSON.parse(json) as Record<string, unknown>;
    // geth and ethers write the section as "Crypto", the V3 spec as "crypto".
    parsed = keystoreSchema.parse(raw && typeof raw === "object" && !("crypto" in raw) && "Crypto" in raw ? { ...raw, crypto: raw.Crypto } : raw);
  } catch (error) {
    throw new FatalError("CONFIG_INVALID", `${source} is not an Ethereum V3 keystore file (scrypt or pbkdf2, aes-128-ctr) — export the key as a V3 keystore (geth, ethers, cast wallet) and point --keystore at it`, { cause: error });
  }
  const { crypto } = parsed;
  const derived = deriveKey(password, crypto.kdfparams);
  const ciphertext = bytes(crypto.ciphertext);
  const expected = bytes(crypto.mac);
  const actual = macOf(derived, ciphertext);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new FatalError("CONFIG_INVALID", `the password does not open ${source} — check TESSELLATE_KEYSTORE_PASSWORD`);
  }
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), bytes(crypto.cipherparams.iv));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw new FatalError("CONFIG_INVALID", `${source} does not hold a 32-byte private key`);
  const privateKey = `0x${key.toString("hex")}` as Hex;
  if (parsed.address) {
    const address = privateKeyToAddress(privateKey).slice(2).toLowerCase();
    if (parsed.address.replace(/^0x/, "").toLowerCase() !== address) {
      throw new FatalError("CONFIG_INVALID", `${source} names address 0x${parsed.address.replace(/^0x/, "")} but holds the key of another address — the file is corrupt`);
    }
  }
  return privateKey;
}

/**
 * Encrypts a private key into a V3 keystore (scrypt). `n` defaults to 2^18 like geth; tests use a
 * smaller one.
 */
export function encryptKeystore(privateKey: Hex, password: string, options: { n?: number } = {}): string {
  const n = options.n ?? 262_144;
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const derived = deriveKey(password, { dklen: 32, salt: salt.toString("hex"), n, r: 8, p: 1 });
  const cipher = createCipheriv("aes-128-ctr", derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(bytes(privateKey)), cipher.final()]);
  return JSON.stringify({
    version: 3,
    id: randomUUID(),
    address: privateKeyToAddress(privateKey).slice(2).toLowerCase(),
    crypto: {
      cipher: "aes-128-ctr",
      ciphertext: ciphertext.toString("hex"),
      cipherparams: { iv: iv.toString("hex") },
      kdf: "scrypt",
      kdfparams: { dklen: 32, salt: salt.toString("hex"), n, r: 8, p: 1 },
      mac: macOf(derived, ciphertext).toString("hex"),
    },
  });
}
