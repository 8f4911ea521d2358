/**
 * Content storage as Tessellate uses it. The only implementation talks the Kubo RPC API
 * (`kubo-rpc-client`), so any Kubo node, pinning service or the embedded devnet node works.
 * Tests of code that *uses* storage substitute an in-memory fake of this interface.
 */
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
