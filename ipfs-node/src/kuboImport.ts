/**
 * The `add` parameters Kubo understands, and the UnixFS importer settings that make this node
 * produce the very CIDs Kubo produces for the same bytes and flags.
 *
 * Kubo's defaults (go-unixfs / boxo, the "unixfs-v0-2015" profile of IPIP-499):
 * - CIDv0 unless `cid-version=1`; `raw-leaves` defaults to true exactly when the CID version is 1;
 * - fixed-size chunker of 262144 bytes (`chunker=size-N` changes N);
 * - balanced DAG layout with at most 174 links per node (helpers.DefaultLinksPerBlock);
 * - non-raw leaves are UnixFS `file` nodes, and a file of one chunk is that single node;
 * - directories switch to HAMT shards past 256 KiB, estimated from the links' bytes.
 */
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import type { ImporterOptions } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { badRequest } from "./apiError.ts";

export const KUBO_DEFAULT_CHUNK_SIZE = 262_144;
export const KUBO_MAX_LINKS_PER_NODE = 174;
/** Kubo refuses chunker sizes over 1 MiB (boxo chunker.ChunkSizeLimit). */
export const KUBO_MAX_CHUNK_SIZE = 1_048_576;

export interface AddParams {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
  wrapWithDirectory: boolean;
  pin: boolean;
  onlyHash: boolean;
  progress: boolean;
}

/** Parses a go-ipfs-cmds boolean (strconv.ParseBool, and a bare flag means true). */
export function parseBool(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  if (["", "1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw badRequest(`invalid value "${value}" for option "${name}": expected true or false`);
}

export function parseAddParams(query: URLSearchParams): AddParams {
  const versionText = query.get("cid-version");
  let cidVersion: 0 | 1 = 0;
  if (versionText !== null) {
    if (versionText !== "0" && versionText !== "1") throw badRequest(`unknown CID version "${versionText}": use 0 or 1`);
    cidVersion = versionText === "1" ? 1 : 0;
  }
  const hash = query.get("hash");
  if (hash !== null && hash !== "sha2-256") throw badRequest(`hash function "${hash}" is not supported by this node: only sha2-256`);
  if (parseBool(query, "trickle", false)) throw badRequest("the trickle DAG layout is not supported by this node: use the default balanced layout");
  if (parseBool(query, "inline", false)) throw badRequest("inline CIDs are not supported by this node");
  if (parseBool(query, "nocopy", false)) throw badRequest("the filestore (nocopy) is not supported by this node");
  if (query.get("to-files") !== null) throw badRequest("MFS (to-files) is not supported by this node");
  return {
    cidVersion,
    rawLeaves: parseBool(query, "raw-leaves", cidVersion === 1),
    chunkSize: parseChunker(query.get("chunker")),
    wrapWithDirectory: parseBool(query, "wrap-with-directory", false),
    pin: parseBool(query, "pin", true),
    onlyHash: parseBool(query, "only-hash", false),
    progress: parseBool(query, "progress", false),
  };
}

export function parseChunker(text: string | null): number {
  if (text === null || text === "" || text === "default") return KUBO_DEFAULT_CHUNK_SIZE;
  const match = /^size-(\d+)$/.exec(text);
  if (match === null) throw badRequest(`chunker "${text}" is not supported by this node: use size-<bytes>`);
  const size = Number(match[1]);
  if (size < 1 || size > KUBO_MAX_CHUNK_SIZE) throw badRequest(`chunker size ${size} is out of range: 1 to ${KUBO_MAX_CHUNK_SIZE} bytes`);
  return size;
}

/** A directory the client sent as a part of its own, as the importer built it. */
export interface ExplicitDirectory {
  cid: CID;
  /** Serialized size of the (empty) directory node. */
  size: number;
}

/**
 * @param explicitDirectories filled with every directory part the importer builds: the importer
 *   does not report a directory that stays empty, but Kubo does, so the caller reports those.
 */
export function importerOptions(params: AddParams, explicitDirectories?: Map<string, ExplicitDirectory>): ImporterOptions {
  return {
    // The importer's own directory builder, recording what it builds.
    dirBuilder: async (dir, blockstore, options) => {
      const unixfs = new UnixFS({ type: "directory", mtime: dir.mtime, mode: dir.mode });
      const block = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal() }));
      const digest = await sha256.digest(block);
      const cid = params.cidVersion === 0 ? CID.createV0(digest) : CID.createV1(dagPb.code, digest);
      await blockstore.put(cid, block, options);
      explicitDirectories?.set(dir.path ?? "", { cid, size: block.byteLength });
      return { cid, path: dir.path, unixfs, size: BigInt(block.byteLength), originalPath: dir.originalPath, block };
    },
    cidVersion: params.cidVersion,
    rawLeaves: params.rawLeaves,
    leafType: "file",
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: params.chunkSize }),
    layout: balanced({ maxChildrenPerNode: KUBO_MAX_LINKS_PER_NODE }),
    shardSplitStrategy: "links-bytes",
    shardSplitThresholdBytes: 262_144,
    shardFanoutBits: 8,
    fieldOrder: "links-first",
    wrapWithDirectory: params.wrapWithDirectory,
    // Parts of a multipart upload arrive one after the other: import them in that order.
    fileImportConcurrency: 1,
  };
}
