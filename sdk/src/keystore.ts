/**
 * Ethereum JSON keystores (Web3 Secret Storage v3, as written by geth, ethers and Hardhat's
 * tooling): the one implementation used by the provider node and the CLI. Key derivation runs
 * asynchronously (libuv's pool), so a daemon's event loop keeps serving while a keystore opens.
 * No message or error ever contains the key or the password.
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, randomUUID, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { bytesToHex, hexToBytes, keccak256, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { FatalError } from "./errors.ts";

const scryptAsync = promisify(scrypt) as (password: Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

interface KeystoreV3 {
  version: number;
  crypto?: KeystoreCrypto;
  Crypto?: KeystoreCrypto;
}

interface KeystoreCrypto {
  cipher: string;
  ciphertext: string;
  cipherparams: { iv: string };
  kdf: string;
  kdfparams: { dklen: number; salt: string; n?: number; r?: number; p?: number; c?: number; prf?: string };
  mac: string;
}

/**
 * Decrypts a Web3 Secret Storage v3 keystore (scrypt or pbkdf2-hmac-sha256, aes-128-ctr).
 * @throws FatalError `KEYSTORE_INVALID` for a malformed file, `KEYSTORE_WRONG_PASSWORD` when the MAC does not match.
 */
export async function decryptKeystore(json: string, password: string, label = "the keystore"): Promise<Hex> {
  const bad = (what: string) => new FatalError("KEYSTORE_INVALID", `${label} is not a usable JSON keystore: ${what} — export it again as a Web3 Secret Storage (v3) file`);
  let parsed: KeystoreV3;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw bad("it is not JSON");
  }
  const c = parsed.crypto ?? parsed.Crypto;
  if (parsed.version !== 3 || !c) throw bad("only version 3 is supported");
  if (c.cipher !== "aes-128-ctr") throw bad(`cipher ${c.cipher} is not supported (aes-128-ctr is)`);
  const hex = (value: string) => Buffer.from(value.replace(/^0x/, ""), "hex");
  const salt = hex(c.kdfparams.salt);
  const dklen = c.kdfparams.dklen;
  if (dklen < 32) throw bad("kdfparams.dklen is below 32");
  let derived: Buffer;
  if (c.kdf === "scrypt") {
    const { n, r, p } = c.kdfparams;
    if (!n || !r || !p) throw bad("scrypt parameters n, r, p are missing");
    derived = await scryptAsync(Buffer.from(password.normalize("NFKC")), salt, dklen, { N: n, r, p, maxmem: 256 * n * r * p + 64 * 1024 * 1024 });
  } else if (c.kdf === "pbkdf2") {
    if (c.kdfparams.prf !== "hmac-sha256" || !c.kdfparams.c) throw bad("pbkdf2 needs prf hmac-sha256 and c");
    derived = await pbkdf2Async(Buffer.from(password.normalize("NFKC")), salt, c.kdfparams.c, dklen, "sha256");
  } else {
    throw bad(`kdf ${c.kdf} is not supported (scrypt and pbkdf2 are)`);
  }
  const ciphertext = hex(c.ciphertext);
  const mac = hexToBytes(keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext])));
  const expected = hex(c.mac);
  if (expected.length !== mac.length || !timingSafeEqual(expected, Buffer.from(mac))) {
    throw new FatalError("KEYSTORE_WRONG_PASSWORD", `${label} did not open: wrong password`);
  }
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), hex(c.cipherparams.iv));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw bad("the decrypted key is not 32 bytes");
  return bytesToHex(key);
}

/** Encrypts a key as a Web3 Secret Storage v3 keystore (scrypt). `n` defaults to 2^17. */
export async function encryptKeystore(privateKey: Hex, password: string, options: { n?: number } = {}): Promise<string> {
  const n = options.n ?? 131_072;
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const derived = await scryptAsync(Buffer.from(password.normalize("NFKC")), salt, 32, { N: n, r: 8, p: 1, maxmem: 256 * n * 8 + 64 * 1024 * 1024 });
  const cipher = createCipheriv("aes-128-ctr", derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(hexToBytes(privateKey)), cipher.final()]);
  const mac = keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext]));
  return JSON.stringify({
    version: 3,
    id: randomUUID(),
    address: privateKeyToAccount(privateKey).address.slice(2).toLowerCase(),
    crypto: {
      cipher: "aes-128-ctr",
      ciphertext: ciphertext.toString("hex"),
      cipherparams: { iv: iv.toString("hex") },
      kdf: "scrypt",
      kdfparams: { dklen: 32, salt: salt.toString("hex"), n, r: 8, p: 1 },
      mac: mac.slice(2),
    },
  });
}
