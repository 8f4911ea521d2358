/**
 * An in-memory fake of {@link Storage} for unit tests of code that uses storage.
 *
 * Content is addressed like IPFS: a file's CID is a CIDv1 (raw codec, sha256) of its bytes, which
 * is what Kubo gives a small file added with raw leaves; a folder's CID is a CIDv1 (dag-pb codec)
 * over its sorted entries — deterministic, but not byte-equal to a real UnixFS folder CID. Paths
 * `cid/inner/path` resolve through nested folders.
 *
 * Errors use the codes of `STORAGE_ERROR_CODES` in `kuboStorage.ts`, with the class a real node gives:
 * - `STORAGE_UNAVAILABLE` (RetryableError): no content known for that root CID — a real node
 *   keeps searching the network until its deadline, and the content may appear later;
 * - `STORAGE_NOT_FOUND` (FatalError): the root is known but has no such path inside;
 * - `STORAGE_TOO_LARGE` (FatalError): over `maxBytes`;
 * - `STORAGE_REJECTED` (FatalError): `cat` of a folder; `STORAGE_BAD_CID`: not a CID or CID/path;
 *   `STORAGE_BAD_INPUT`: `addFolder` of something that is not a folder, or a bad entry path.
 *
 * Test hooks: {@link MemoryStorage.addEntries} adds a folder without touching the disk,
 * {@link MemoryStorage.overwrite} simulates a gateway serving wrong bytes, {@link MemoryStorage.forget}
 * simulates content nobody provides, and `stats` counts reads.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { FatalError, RetryableError } from "../errors.ts";
import { STORAGE_ERROR_CODES, type AddOptions, type Storage } from "../storage.ts";

const RAW_CODEC = 0x55;
const DAG_PB_CODEC = 0x70;
const SHA2_256 = 0x12;

type Node = { kind: "file"; bytes: Uint8Array } | { kind: "dir"; entries: Map<string, string> };

/** Folder contents for {@link MemoryStorage.addEntries}: relative path (`a/b.png`) → bytes. */
export type MemoryEntries = Record<string, Uint8Array> | Map<string, Uint8Array>;

/** In-memory {@link Storage}. */
export class MemoryStorage implements Storage {
  /** Counters for assertions in tests. */
  readonly stats = { cat: 0, bytesServed: 0, adds: 0 };
  /** CIDs pinned so far. */
  readonly pinned = new Set<string>();
  private readonly nodes = new Map<string, Node>();

  async addBytes(bytes: Uint8Array, options: AddOptions = {}): Promise<string> {
    options.signal?.throwIfAborted();
    const cid = this.putFile(bytes);
    options.onProgress?.({ bytes: bytes.length });
    this.afterAdd(cid, options);
    return cid;
  }

  async addFile(path: string, options: AddOptions = {}): Promise<string> {
    options.signal?.throwIfAborted();
    const bytes = new Uint8Array(await readFile(path));
    const cid = this.putFile(bytes);
    options.onProgress?.({ bytes: bytes.length, path });
    this.afterAdd(cid, options);
    return cid;
  }

  async addFolder(dir: string, options: AddOptions = {}): Promise<string> {
    const entries = new Map<string, Uint8Array>();
    let sent = 0;
    const walk = async (absolute: string, relative: string): Promise<void> => {
      for (const entry of await readdir(absolute, { withFileTypes: true })) {
        options.signal?.throwIfAborted();
        const abs = join(absolute, entry.name);
        const rel = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(abs, rel);
        else if (entry.isFile()) {
          const bytes = new Uint8Array(await readFile(abs));
          entries.set(rel, bytes);
          sent += bytes.length;
          options.onProgress?.({ bytes: sent, path: rel });
        }
      }
    };
    const isFolder = await stat(dir).then((info) => info.isDirectory(), () => false);
    if (!isFolder) throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${dir}: it is not a folder — pass a folder to addFolder`);
    await walk(dir, "");
    if (options.onlyHash) return new MemoryStorage().putTree(entries); // the CID, nothing stored here
    const cid = this.putTree(entries);
    this.afterAdd(cid, options);
    return cid;
  }

  /** Adds a folder given as `relative path → bytes` (nested folders from `/` in paths); returns its CID. */
  async addEntries(entries: MemoryEntries, options: AddOptions = {}): Promise<string> {
    options.signal?.throwIfAborted();
    const map = entries instanceof Map ? entries : new Map(Object.entries(entries));
    const cid = this.putTree(map);
    this.afterAdd(cid, options);
    return cid;
  }

  async cat(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    this.stats.cat++;
    const node = this.resolve(path);
    if (node.kind === "dir") throw new FatalError(STORAGE_ERROR_CODES.rejected, `${path} is a folder, not a file — cat a file inside it`);
    checkMax(path, node.bytes.length, options.maxBytes);
    this.stats.bytesServed += node.bytes.length;
    return node.bytes.slice();
  }

  async get(path: string, destDir: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const node = this.resolve(path);
    checkMax(path, this.sizeOf(node), options.maxBytes);
    if (node.kind === "file") {
      await mkdir(destDir, { recursive: true });
      await writeFile(join(destDir, basename(path)), node.bytes);
      return;
    }
    const write = async (dir: Node & { kind: "dir" }, target: string): Promise<void> => {
      await mkdir(target, { recursive: true });
      for (const [name, cid] of dir.entries) {
        const child = this.nodes.get(cid)!;
        if (child.kind === "dir") await write(child, join(target, name));
        else await writeFile(join(target, name), child.bytes);
      }
    };
    await write(node, destDir);
  }

  async size(path: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    options.signal?.throwIfAborted();
    return this.sizeOf(this.resolve(path));
  }

  async pin(cid: string): Promise<void> {
    this.resolve(cid);
    this.pinned.add(cid);
  }

  /** Replaces the bytes served at `cid/path` without changing any CID (a lying gateway). */
  overwrite(path: string, bytes: Uint8Array): void {
    const node = this.resolve(path);
    if (node.kind !== "file") throw new FatalError(STORAGE_ERROR_CODES.rejected, `${path} is a folder`);
    node.bytes = bytes.slice();
  }

  /** Forgets the content of a root CID (nobody provides it any more). */
  forget(cid: string): void {
    this.nodes.delete(cid);
  }

  /** True when `path` resolves. */
  has(path: string): boolean {
    try {
      this.resolve(path);
      return true;
    } catch {
      return false;
    }
  }

  private afterAdd(cid: string, options: AddOptions): void {
    this.stats.adds++;
    if (options.pin ?? true) this.pinned.add(cid);
  }

  private putFile(bytes: Uint8Array): string {
    const cid = CID.createV1(RAW_CODEC, Digest.create(SHA2_256, sha256(bytes))).toString();
    if (!this.nodes.has(cid)) this.nodes.set(cid, { kind: "file", bytes: bytes.slice() });
    return cid;
  }

  private putTree(files: Map<string, Uint8Array>): string {
    type Tree = Map<string, Tree | Uint8Array>;
    const root: Tree = new Map();
    for (const [path, bytes] of files) {
      const parts = path.split("/");
      if (parts.some((p) => p === "" || p === "." || p === "..")) {
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `entry path "${path}" must be relative, without empty, "." or ".." parts`);
      }
      let dir = root;
      for (const part of parts.slice(0, -1)) {
        let next = dir.get(part);
        if (next instanceof Uint8Array) throw new FatalError(STORAGE_ERROR_CODES.badInput, `"${part}" in "${path}" is both a file and a folder`);
        if (!next) dir.set(part, (next = new Map()));
        dir = next;
      }
      dir.set(parts[parts.length - 1], bytes);
    }
    const store = (tree: Tree): string => {
      const entries = new Map<string, string>();
      for (const name of [...tree.keys()].sort()) {
        const child = tree.get(name)!;
        entries.set(name, child instanceof Uint8Array ? this.putFile(child) : store(child));
      }
      const listing = new TextEncoder().encode(JSON.stringify([...entries]));
      const cid = CID.createV1(DAG_PB_CODEC, Digest.create(SHA2_256, sha256(listing))).toString();
      if (!this.nodes.has(cid)) this.nodes.set(cid, { kind: "dir", entries });
      return cid;
    };
    return store(root);
  }

  private resolve(path: string): Node {
    const [root, ...parts] = path.replace(/^\/ipfs\//, "").split("/").filter((p, i) => i === 0 || p !== "");
    try {
      CID.parse(root);
    } catch {
      throw new FatalError(STORAGE_ERROR_CODES.badCid, `"${path}" does not start with a CID — pass "cid" or "cid/path/inside"`);
    }
    let node = this.nodes.get(root);
    if (!node) throw new RetryableError(STORAGE_ERROR_CODES.unavailable, `no provider found for ${root} — check that the content was added and pinned`);
    for (const [i, part] of parts.entries()) {
      const child: string | undefined = node.kind === "dir" ? node.entries.get(part) : undefined;
      if (!child) {
        throw new FatalError(STORAGE_ERROR_CODES.notFound, `${[root, ...parts.slice(0, i + 1)].join("/")} does not exist — check the path inside ${root}`);
      }
      node = this.nodes.get(child)!;
    }
    return node;
  }

  private sizeOf(node: Node): number {
    if (node.kind === "file") return node.bytes.length;
    let total = 0;
    for (const cid of node.entries.values()) total += this.sizeOf(this.nodes.get(cid)!);
    return total;
  }
}

function checkMax(path: string, size: number, maxBytes: number | undefined): void {
  if (maxBytes !== undefined && size > maxBytes) {
    throw new FatalError(STORAGE_ERROR_CODES.tooLarge, `${path} is ${size} bytes, more than the ${maxBytes} allowed — raise maxBytes or check the CID`);
  }
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}
