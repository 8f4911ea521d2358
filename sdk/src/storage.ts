/**
 * Content storage as Tessellate uses it. The only implementation talks the Kubo RPC API
 * (`kubo-rpc-client`), so any Kubo node, pinning service or the embedded devnet node works.
 * Tests of code that *uses* storage substitute an in-memory fake of this interface.
 */
/** Error codes of every Storage implementation (stable; match on the code, never on the message). */
export const STORAGE_ERROR_CODES = {
  /** Retryable: the node was unreachable, failed, or went silent past the deadline. */
  unavailable: "STORAGE_UNAVAILABLE",
  /** Fatal: the CID (or a path inside it) is not on the node. */
  notFound: "STORAGE_NOT_FOUND",
  /** Fatal: the string given is not a CID (or CID/path). */
  badCid: "STORAGE_BAD_CID",
  /** Fatal: the content exceeds `maxBytes`, or the node refused an upload as too large. */
  tooLarge: "STORAGE_TOO_LARGE",
  /** Fatal: the node refused the request (e.g. `cat` of a folder). */
  rejected: "STORAGE_REJECTED",
  /** Fatal: the local file or folder to add is missing or of an unsupported kind. */
  badInput: "STORAGE_BAD_INPUT",
  /** Fatal: a folder on IPFS holds an entry name that cannot be written safely to disk. */
  badContent: "STORAGE_BAD_CONTENT",
  /** Fatal: reading or writing the local disk failed. */
  localIo: "STORAGE_LOCAL_IO",
} as const;

export interface AddProgress {
  /** Bytes of content the node has stored so far (all files of the add together). */
  bytes: number;
  /** Path of the file being added, when known. */
  path?: string;
  /** `storing` while the content flows in; `pinning` once it is all stored and the node pins it. */
  stage?: "storing" | "pinning";
  /** While pinning: the blocks pinned so far. */
  pinnedBlocks?: number;
}

export interface AddOptions {
  onProgress?: (progress: AddProgress) => void;
  signal?: AbortSignal;
  /** Pin after adding (default true). */
  pin?: boolean;
  /**
   * Only compute the CID: store and announce nothing (Kubo's `only-hash`). A provider reveals its
   * result's CID this way and adds the folder once its segment is accepted, so no later replica
   * can hash a public result (issue 10 property 2).
   */
  onlyHash?: boolean;
}

export interface Storage {
  /** Adds bytes as one UnixFS file (CIDv1, raw leaves); returns its CID. */
  addBytes(bytes: Uint8Array, options?: AddOptions): Promise<string>;
  /** Adds one file from disk; returns its CID. */
  addFile(path: string, options?: AddOptions): Promise<string>;
  /** Adds a folder recursively (the folder itself is the root, wrapped); returns the root CID. */
  addFolder(dir: string, options?: AddOptions): Promise<string>;
  /** Reads a file by `cid` or `cid/path/inside`. Rejects with a FatalError when it exceeds `maxBytes`. */
  cat(path: string, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<Uint8Array>;
  /** Writes the file or folder at `cid[/path]` under `destDir` (as `destDir` itself for a folder). */
  get(path: string, destDir: string, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<void>;
  /** Total size in bytes of the file or folder, without fetching it whole. */
  size(path: string, options?: { signal?: AbortSignal }): Promise<number>;
  pin(cid: string): Promise<void>;
}
