/**
 * Read access to the UnixFS content in the local blockstore, strictly offline: a block that is
 * not stored here is "not found" at once, never looked up elsewhere.
 */
import * as dagPb from "@ipld/dag-pb";
import type { Helia } from "helia";
import { exporter, type UnixFSEntry } from "ipfs-unixfs-exporter";
import type { MultibaseDecoder } from "multiformats";
import { bases } from "multiformats/basics";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { badRequest, notFound } from "./apiError.ts";

/** A parsed `/ipfs/<cid>/path/inside` (or bare `<cid>/path/inside`). */
export interface IpfsPath {
  cid: CID;
  /** Path segments below the CID, without empty ones. */
  segments: string[];
  /** As the client wrote it, for messages. */
  text: string;
}

/** Decodes a CID string in any multibase multiformats knows (Kubo accepts them all). */
const anyBase: MultibaseDecoder<string> = {
  decode(text) {
    const base = Object.values(bases).find((candidate) => text.startsWith(candidate.prefix));
    if (base === undefined) throw new Error(`unknown multibase prefix "${text.slice(0, 1)}"`);
    return base.decoder.decode(text);
  },
};

/** Parses a CID in any multibase, or a CIDv0. Throws a 400 naming the input when it is not one. */
export function parseCid(text: string, context = text): CID {
  try {
    return CID.parse(text, anyBase);
  } catch (error) {
    throw badRequest(`invalid path "${context}": invalid CID "${text}": ${(error as Error).message}`);
  }
}

export function parseIpfsPath(text: string | null | undefined): IpfsPath {
  if (text === null || text === undefined || text.trim() === "") throw badRequest('argument "ipfs-path" is required');
  let rest = text.trim();
  if (rest.startsWith("/ipns/") || rest.startsWith("ipns://")) throw badRequest(`invalid path "${text}": IPNS names are not supported by this node`);
  if (rest.startsWith("ipfs://")) rest = rest.slice("ipfs://".length);
  else if (rest.startsWith("/ipfs/")) rest = rest.slice("/ipfs/".length);
  else if (rest.startsWith("/")) throw badRequest(`invalid path "${text}": expected /ipfs/<cid>[/path] or <cid>[/path] (MFS paths are not supported)`);
  const [first = "", ...segments] = rest.split("/");
  return { cid: parseCid(first, text), segments: segments.filter((segment) => segment !== "" && segment !== "."), text };
}

type Blocks = Helia["blockstore"];
/** What the reader needs of a blockstore. */
export type BlockReader = Pick<Blocks, "get" | "has">;

/** The blockstore seen through an offline lens: a missing block is a 404 naming its CID. */
export function offlineBlocks(blockstore: BlockReader): BlockReader {
  return {
    has: (cid, options) => blockstore.has(cid, options),
    async *get(cid, options) {
      if (!(await blockstore.has(cid, { signal: options?.signal }))) throw notFound(`block was not found locally (offline): ipld: could not find ${cid}`);
      yield* blockstore.get(cid, { ...options, offline: true });
    },
  };
}

/** UnixFS node types as Kubo numbers them in `ls` (unixfs.proto's Data.DataType). */
export const LinkType = { raw: 0, directory: 1, file: 2, metadata: 3, symlink: 4, hamtShard: 5 } as const;

export interface EntryInfo {
  kind: "file" | "directory" | "symlink" | "other";
  /** Kubo's `ls` Type number. */
  linkType: number;
  /** Bytes of file content (0 for a directory). */
  size: number;
  /** This node's block plus everything it links to, as Kubo reports `CumulativeSize`. */
  cumulativeSize: number;
  /** Number of links of this node. */
  blocks: number;
  mode: number | undefined;
  /** Seconds since the epoch, when the node records one. */
  mtime: number | undefined;
}

export class ContentReader {
  readonly blocks: BlockReader;

  constructor(blockstore: BlockReader) {
    this.blocks = offlineBlocks(blockstore);
  }

  async resolve(path: IpfsPath, signal?: AbortSignal): Promise<UnixFSEntry> {
    const target = path.segments.length === 0 ? path.cid : `${path.cid}/${path.segments.join("/")}`;
    try {
      return await exporter(target, this.blocks, { signal, offline: true });
    } catch (error) {
      if ((error as Error).name === "NotFoundError" && path.segments.length > 0) {
        throw notFound(`no link named "${path.segments.join("/")}" under ${path.cid} (${(error as Error).message})`);
      }
      throw error;
    }
  }

  async resolveCid(cid: CID, signal?: AbortSignal): Promise<UnixFSEntry> {
    return exporter(cid, this.blocks, { signal, offline: true });
  }

  describe(entry: UnixFSEntry): EntryInfo {
    switch (entry.type) {
      case "directory": {
        const hamt = entry.unixfs.type === "hamt-sharded-directory";
        return {
          kind: "directory",
          linkType: hamt ? LinkType.hamtShard : LinkType.directory,
          size: 0,
          cumulativeSize: cumulativeSize(entry.node),
          blocks: entry.node.Links.length,
          mode: entry.unixfs.mode,
          mtime: entry.unixfs.mtime === undefined ? undefined : Number(entry.unixfs.mtime.secs),
        };
      }
      case "file": {
        const symlink = entry.unixfs.type === "symlink";
        return {
          kind: symlink ? "symlink" : "file",
          linkType: symlink ? LinkType.symlink : LinkType.file,
          size: Number(entry.unixfs.fileSize()),
          cumulativeSize: cumulativeSize(entry.node),
          blocks: entry.node.Links.length,
          mode: entry.unixfs.mode,
          mtime: entry.unixfs.mtime === undefined ? undefined : Number(entry.unixfs.mtime.secs),
        };
      }
      case "raw":
      case "identity":
        return { kind: "file", linkType: LinkType.file, size: entry.node.byteLength, cumulativeSize: entry.node.byteLength, blocks: 0, mode: undefined, mtime: undefined };
      default:
        return { kind: "other", linkType: LinkType.raw, size: 0, cumulativeSize: entry.node.byteLength, blocks: 0, mode: undefined, mtime: undefined };
    }
  }

  /** The children of a directory, in link order, each resolved to know its type and size. */
  async *children(entry: UnixFSEntry, signal?: AbortSignal): AsyncGenerator<{ name: string; cid: CID; entry: UnixFSEntry }> {
    if (entry.type !== "directory") return;
    for await (const child of entry.entries({ signal, offline: true })) {
      yield { name: child.name, cid: child.cid, entry: await this.resolveCid(child.cid, signal) };
    }
  }

  /** Directory links without loading the children (for `ls --resolve-type=false`). */
  async *links(entry: UnixFSEntry, signal?: AbortSignal): AsyncGenerator<{ name: string; cid: CID; tsize: number }> {
    if (entry.type !== "directory") return;
    for await (const child of entry.entries({ signal, offline: true })) yield { name: child.name, cid: child.cid, tsize: Number(child.size) };
  }

  /** File bytes, optionally a window of them; rejects with 400 for something that is not a file. */
  content(entry: UnixFSEntry, options: { offset?: number; length?: number; signal?: AbortSignal } = {}): AsyncIterable<Uint8Array> {
    if (entry.type === "directory") throw badRequest(`this dag node is a directory: ${entry.cid}`);
    if (entry.type === "object") throw badRequest(`this dag node is not a UnixFS file: ${entry.cid}`);
    if (entry.type === "file" && entry.unixfs.type === "symlink") throw badRequest(`this dag node is a symlink: ${entry.cid}`);
    return entry.content({ offset: options.offset, length: options.length, signal: options.signal, offline: true });
  }
}

function cumulativeSize(node: dagPb.PBNode): number {
  let total = dagPb.encode(node).byteLength;
  for (const link of node.Links) total += link.Tsize ?? 0;
  return total;
}

export function isRawCid(cid: CID): boolean {
  return cid.code === raw.code;
}

/** Concatenates a byte stream; rejects with a 400 past `maxBytes`. */
export async function collect(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > maxBytes) throw badRequest(`content exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
