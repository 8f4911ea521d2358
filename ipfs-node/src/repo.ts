/**
 * The on-disk repository of the embedded node, laid out like this:
 *
 *   <repoDir>/blocks/         blocks, one file per CID (blockstore-fs)
 *   <repoDir>/datastore/      pins and Helia's bookkeeping (datastore-fs)
 *   <repoDir>/identity.json   the node's Ed25519 peer identity
 *   <repoDir>/repo.lock       pid of the process that has the repo open
 *
 * Helia runs here without libp2p: `createHeliaLight` with no block brokers and no routers, so a
 * block that is not on disk can never be fetched (nor looked for) on the network.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FsBlockstore } from "blockstore-fs";
import { FsDatastore } from "datastore-fs";
import { createHeliaLight, type Helia } from "helia";
import { base58btc } from "multiformats/bases/base58";
import type { CID } from "multiformats/cid";

export interface NodeIdentity {
  /** libp2p peer ID of an Ed25519 key (`12D3KooW…`). */
  peerId: string;
  /** The libp2p protobuf-encoded public key, base64, as Kubo's `id` reports it. */
  publicKey: string;
}

export interface Repo {
  helia: Helia;
  identity: NodeIdentity;
  close(): Promise<void>;
}

export async function openRepo(repoDir: string): Promise<Repo> {
  await mkdir(repoDir, { recursive: true });
  const lockPath = join(repoDir, "repo.lock");
  await takeLock(lockPath, repoDir);
  const blockstore = new JoinedWritesFsBlockstore(join(repoDir, "blocks"));
  const datastore = new SerialWritesFsDatastore(join(repoDir, "datastore"));
  try {
    await blockstore.open();
    await datastore.open();
    const identity = await loadIdentity(join(repoDir, "identity.json"));
    // No blockBrokers (bitswap, trustless gateways) and no routers (DHT, delegated routing): offline by construction.
    const helia = createHeliaLight({ blockstore, datastore, blockBrokers: [], routers: [] });
    await helia.start();
    return {
      helia,
      identity,
      async close() {
        try {
          await helia.stop();
          await blockstore.close();
          await datastore.close();
        } finally {
          await rm(lockPath, { force: true });
        }
      },
    };
  } catch (error) {
    await rm(lockPath, { force: true });
    throw error;
  }
}

/**
 * blockstore-fs (through `steno`) writes a block to a temp file named after it, then renames it.
 * Two concurrent writes of the same block (a file whose chunks repeat) share that temp file, and
 * the loser retries its rename for about a second. Concurrent writes of one block are joined.
 */
class JoinedWritesFsBlockstore extends FsBlockstore {
  private readonly writing = new Map<string, Promise<CID>>();

  async put(...[key, value, options]: Parameters<FsBlockstore["put"]>): Promise<CID> {
    const id = Buffer.from(key.multihash.bytes).toString("base64");
    const pending = this.writing.get(id);
    if (pending !== undefined) {
      await pending;
      return key;
    }
    const write = super.put(key, value, options).finally(() => this.writing.delete(id));
    this.writing.set(id, write);
    return write;
  }
}

/** The same temp-file collision in datastore-fs: writes of one key are made one after the other. */
class SerialWritesFsDatastore extends FsDatastore {
  private readonly queues = new Map<string, Promise<unknown>>();

  async put(...[key, value, options]: Parameters<FsDatastore["put"]>): ReturnType<FsDatastore["put"]> {
    const id = key.toString();
    const previous = this.queues.get(id) ?? Promise.resolve();
    const write = previous.catch(() => undefined).then(() => super.put(key, value, options));
    this.queues.set(id, write);
    try {
      return await write;
    } finally {
      if (this.queues.get(id) === write) this.queues.delete(id);
    }
  }
}

async function takeLock(lockPath: string, repoDir: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new Error(`IPFS repo ${repoDir} is in use by process ${pid}${pid === process.pid ? " (this one)" : ""}: stop that node first, or use another --repo`);
      }
      await rm(lockPath, { force: true }); // stale lock of a process that is gone
    }
  }
  throw new Error(`could not lock IPFS repo ${repoDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function loadIdentity(path: string): Promise<NodeIdentity> {
  try {
    const stored = JSON.parse(await readFile(path, "utf8")) as NodeIdentity;
    if (typeof stored.peerId === "string" && typeof stored.publicKey === "string") return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`unreadable node identity ${path}: ${(error as Error).message}`);
  }
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const rawPublicKey = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  // libp2p PublicKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data) = 32 bytes.
  const protobufKey = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, 0x20]), rawPublicKey]);
  // The peer ID of a key this small is the identity multihash (code 0x00) of the protobuf key.
  const multihash = Buffer.concat([Buffer.from([0x00, protobufKey.length]), protobufKey]);
  const identity: NodeIdentity & { privateKey: string } = {
    peerId: base58btc.baseEncode(multihash),
    publicKey: protobufKey.toString("base64"),
    privateKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
  await writeFile(path, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
  return { peerId: identity.peerId, publicKey: identity.publicKey };
}
