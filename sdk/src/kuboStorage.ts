/**
 * {@link Storage} over the Kubo RPC API with `kubo-rpc-client`: works against a Kubo node, a
 * pinning service that speaks the RPC API, or the devnet's embedded node (`@tessellate/ipfs-node`).
 *
 * - Content is added as CIDv1 with raw leaves (so a small file's CID is the sha2-256 of its bytes).
 * - Reads are bounded: `cat`/`get` stop as soon as `maxBytes` is passed.
 * - Every RPC has an inactivity deadline (`timeoutMs` without a byte moving), because
 *   kubo-rpc-client 7's own `timeout` option is not applied to requests.
 * - Failures come out typed: `RetryableError` when the node could not be reached or did not answer,
 *   `FatalError` when the input is wrong (bad CID), the content is absent or too large.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { create, type KuboRPCClient } from "kubo-rpc-client";
import { CID } from "multiformats/cid";
import { FatalError, RetryableError, TessellateError } from "./errors.ts";
import type { AddOptions, AddProgress, Storage } from "./storage.ts";

/** Error codes of this module (stable; match on the code, never on the message). */
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

export interface KuboStorageOptions {
  /** RPC API base URL, e.g. `http://127.0.0.1:5001` (the `/api/v0` path is added when absent). */
  url: string;
  /** Longest wait for the node to answer or to move the next byte (default 30 s). */
  timeoutMs?: number;
}

export const DEFAULT_STORAGE_TIMEOUT_MS = 30_000;

/** Uploads are cut into pieces of this size, so progress and the deadline advance during them. */
const UPLOAD_PIECE_BYTES = 256 * 1024;

export function createKuboStorage(options: KuboStorageOptions): Storage {
  const url = options.url;
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORAGE_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new FatalError("CONFIG_INVALID", `timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  const client: KuboRPCClient = create({ url });
  /** What Tessellate adds: CIDv1, raw leaves; Kubo's default chunker (256 KiB) and layout. */
  const addSettings = { cidVersion: 1, rawLeaves: true } as const;

  /** Runs one storage operation under its own inactivity deadline and translates its failure. */
  async function operation<T>(what: string, signal: AbortSignal | undefined, body: (call: Call) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const call = new Call(timeoutMs, signal);
    try {
      return await body(call);
    } catch (error) {
      throw translateError(error, { what, url, timeoutMs, call, callerSignal: signal });
    } finally {
      call.finish();
    }
  }

  async function addSource(
    what: string,
    source: AsyncIterable<{ path: string; content?: AsyncIterable<Uint8Array> }>,
    rootPath: string | undefined,
    options: AddOptions,
    progress: Progress,
  ): Promise<string> {
    return operation(what, options.signal, async (call) => {
      progress.call = call;
      let last: { path: string; cid: CID } | undefined;
      let root: CID | undefined;
      try {
        for await (const added of client.addAll(source, { ...addSettings, pin: options.pin ?? true, signal: call.signal })) {
          call.touch();
          last = added;
          if (rootPath !== undefined && added.path === rootPath) root = added.cid;
        }
      } catch (error) {
        // A local file that failed to read mid-upload only shows as an aborted request: report the real cause.
        throw progress.readError ?? error;
      }
      if (progress.readError !== undefined) throw progress.readError;
      const cid = rootPath === undefined ? last?.cid : root;
      if (cid === undefined) throw new FatalError(STORAGE_ERROR_CODES.rejected, `${what}: the IPFS node at ${url} answered without the CID of ${rootPath ?? "the content"}`);
      return cid.toString();
    });
  }

  const storage: Storage = {
    async addBytes(bytes, options = {}) {
      const progress = new Progress(options.onProgress);
      return addSource("add bytes", single({ path: "", content: pieces(bytes, "", progress) }), undefined, options, progress);
    },

    async addFile(path, options = {}) {
      const file = resolve(path);
      const info = await stat(file).catch((error: unknown) => {
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${file}: ${(error as Error).message}`, { cause: error });
      });
      if (!info.isFile()) throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${file}: it is not a regular file`);
      const name = basename(file);
      const progress = new Progress(options.onProgress);
      return addSource(`add ${file}`, single({ path: name, content: fileContent(file, name, progress) }), name, options, progress);
    },

    async addFolder(dir, options = {}) {
      const folder = resolve(dir);
      const info = await stat(folder).catch((error: unknown) => {
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${folder}: ${(error as Error).message}`, { cause: error });
      });
      if (!info.isDirectory()) throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${folder}: it is not a folder`);
      // The folder is sent as one top-level directory entry holding everything below it, so its own
      // entry in the answer is the root: the same node `wrap-with-directory` of its contents gives
      // (a folder's name is not part of its CID), and an empty folder works too.
      const rootName = basename(folder) || "folder";
      const listed = await listFolder(folder, rootName).catch((error: unknown) => {
        if (error instanceof TessellateError) throw error;
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${folder}: ${(error as Error).message}`, { cause: error });
      });
      const progress = new Progress(options.onProgress);
      return addSource(`add ${folder}`, folderEntries(listed, progress), rootName, options, progress);
    },

    async cat(path, options = {}) {
      const target = parsePath(path);
      return operation(`cat ${target.text}`, options.signal, async (call) => {
        const { maxBytes } = options;
        const chunks: Uint8Array[] = [];
        let total = 0;
        // Asking for one byte more than allowed is enough to know the content is too large.
        for await (const chunk of client.cat(target.ipfsPath, { signal: call.signal, length: maxBytes === undefined ? undefined : maxBytes + 1 })) {
          call.touch();
          total += chunk.byteLength;
          if (maxBytes !== undefined && total > maxBytes) throw tooLarge(target.text, maxBytes);
          chunks.push(chunk);
        }
        return concat(chunks, total);
      });
    },

    async get(path, destDir, options = {}) {
      const target = parsePath(path);
      const dest = resolve(destDir);
      return operation(`get ${target.text}`, options.signal, async (call) => {
        const budget = { maxBytes: options.maxBytes, written: 0, path: target.text };
        const info = await client.files.stat(target.ipfsPath, { signal: call.signal });
        call.touch();
        await localIo(() => mkdir(dest, { recursive: true }));
        if (info.type === "directory") {
          await writeFolder(target.ipfsPath, dest, budget, call);
        } else {
          const last = target.segments.at(-1);
          const name = last !== undefined && isSafeName(last) ? last : target.cid.toString();
          await writeFile(info.cid.toString(), join(dest, name), info.size, budget, call);
        }
      });
    },

    async size(path, options = {}) {
      const target = parsePath(path);
      return operation(`size of ${target.text}`, options.signal, async (call) => {
        const info = await client.files.stat(target.ipfsPath, { signal: call.signal });
        call.touch();
        return info.type === "directory" ? folderSize(target.ipfsPath, call) : info.size;
      });
    },

    async pin(cid) {
      const target = parsePath(cid);
      await operation(`pin ${target.text}`, undefined, async (call) => {
        await client.pin.add(target.ipfsPath, { signal: call.signal });
      });
    },
  };
  return storage;

  async function writeFolder(ipfsPath: string, dir: string, budget: Budget, call: Call): Promise<void> {
    const entries = [];
    for await (const entry of client.ls(ipfsPath, { signal: call.signal })) {
      call.touch();
      if (isSelf(entry)) continue;
      entries.push(entry);
    }
    for (const entry of entries) {
      if (!isSafeName(entry.name)) {
        throw new FatalError(STORAGE_ERROR_CODES.badContent, `${ipfsPath} holds an entry named ${JSON.stringify(entry.name)}, which cannot be written safely to disk`);
      }
      const target = join(dir, entry.name);
      if (entry.type === "dir") {
        await localIo(() => mkdir(target, { recursive: true }));
        await writeFolder(`/ipfs/${entry.cid}`, target, budget, call);
      } else {
        await writeFile(entry.cid.toString(), target, entry.size, budget, call);
      }
    }
  }

  /** Streams one file to `${target}.partial`, then renames it: a file on disk is always whole. */
  async function writeFile(cid: string, target: string, size: number, budget: Budget, call: Call): Promise<void> {
    if (budget.maxBytes !== undefined && budget.written + size > budget.maxBytes) throw tooLarge(budget.path, budget.maxBytes);
    const partial = `${target}.partial`;
    const handle = await localIo(() => open(partial, "w"));
    try {
      for await (const chunk of client.cat(cid, { signal: call.signal })) {
        call.touch();
        budget.written += chunk.byteLength;
        if (budget.maxBytes !== undefined && budget.written > budget.maxBytes) throw tooLarge(budget.path, budget.maxBytes);
        await localIo(() => handle.write(chunk));
      }
    } catch (error) {
      await handle.close();
      await rm(partial, { force: true });
      throw error;
    }
    await localIo(() => handle.close());
    await localIo(() => rename(partial, target));
  }

  async function folderSize(ipfsPath: string, call: Call): Promise<number> {
    let total = 0;
    const folders: string[] = [];
    for await (const entry of client.ls(ipfsPath, { signal: call.signal })) {
      call.touch();
      if (isSelf(entry)) continue;
      if (entry.type === "dir") folders.push(`/ipfs/${entry.cid}`);
      else total += entry.size;
    }
    for (const folder of folders) total += await folderSize(folder, call);
    return total;
  }
}

// ---- paths and errors -------------------------------------------------------------------

interface StoragePath {
  cid: CID;
  segments: string[];
  /** `/ipfs/<cid>[/path]`, as sent to the node. */
  ipfsPath: string;
  /** `<cid>[/path]`, for messages. */
  text: string;
}

/** Accepts `<cid>`, `<cid>/path/inside`, `/ipfs/<cid>/…` and `ipfs://<cid>/…`. */
function parsePath(path: string): StoragePath {
  const rest = path.trim().replace(/^\/ipfs\//, "").replace(/^ipfs:\/\//, "");
  const [first = "", ...more] = rest.split("/");
  let cid: CID;
  try {
    cid = CID.parse(first);
  } catch (error) {
    throw new FatalError(STORAGE_ERROR_CODES.badCid, `"${path}" is not a CID or CID/path: ${(error as Error).message}`, { cause: error });
  }
  const segments = more.filter((segment) => segment !== "");
  const text = [cid.toString(), ...segments].join("/");
  return { cid, segments, ipfsPath: `/ipfs/${text}`, text };
}

interface Budget {
  maxBytes: number | undefined;
  written: number;
  path: string;
}

function tooLarge(path: string, maxBytes: number): FatalError {
  return new FatalError(STORAGE_ERROR_CODES.tooLarge, `${path} is larger than the ${maxBytes}-byte limit`);
}

/**
 * kubo-rpc-client answers `ls` of an empty folder with the folder itself, nameless, typed as a
 * file (Kubo sends no links, and no links is how the client recognises a file).
 */
function isSelf(entry: { name?: string }): boolean {
  return entry.name === undefined;
}

function isSafeName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

/** Runs a local disk operation; its failure is a FatalError naming the error. */
async function localIo<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new FatalError(STORAGE_ERROR_CODES.localIo, `local disk: ${(error as Error).message}`, { cause: error });
  }
}

/** Kubo answers most failures with HTTP 500; these messages say what they are. */
const NOT_FOUND_MESSAGE = /not found|no link named|could not find|does not exist|not pinned/i;
const BAD_CID_MESSAGE = /invalid (path|cid)|multibase|selected encoding not supported|illegal base32|non-base58/i;

function translateError(
  error: unknown,
  context: { what: string; url: string; timeoutMs: number; call: Call; callerSignal: AbortSignal | undefined },
): unknown {
  if (error instanceof TessellateError) return error;
  if (context.callerSignal?.aborted === true) return context.callerSignal.reason;
  const { what, url } = context;
  if (context.call.timedOut) {
    return new RetryableError(STORAGE_ERROR_CODES.unavailable, `${what}: the IPFS node at ${url} went ${context.timeoutMs} ms without answering`, { cause: error });
  }
  const response = (error as { response?: { status?: unknown } } | null)?.response;
  const status = typeof response?.status === "number" ? response.status : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (status !== undefined) {
    if (status === 413) return new FatalError(STORAGE_ERROR_CODES.tooLarge, `${what}: the IPFS node refused the upload as too large: ${message}`, { cause: error });
    if (status === 404 || NOT_FOUND_MESSAGE.test(message)) return new FatalError(STORAGE_ERROR_CODES.notFound, `${what}: not found on the IPFS node at ${url}: ${message}`, { cause: error });
    if (BAD_CID_MESSAGE.test(message)) return new FatalError(STORAGE_ERROR_CODES.badCid, `${what}: ${message}`, { cause: error });
    if (status < 500 || /is a directory|not a file|is a symlink/i.test(message)) {
      return new FatalError(STORAGE_ERROR_CODES.rejected, `${what}: the IPFS node at ${url} refused: ${message}`, { cause: error });
    }
    return new RetryableError(STORAGE_ERROR_CODES.unavailable, `${what}: the IPFS node at ${url} failed (HTTP ${status}): ${message}`, { cause: error });
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const detail = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : message;
  return new RetryableError(STORAGE_ERROR_CODES.unavailable, `${what}: cannot reach the IPFS node at ${url} (${detail}); is it running?`, { cause: error });
}

/** The abort signal of one operation: the caller's, plus a deadline re-armed whenever a byte moves. */
class Call {
  readonly signal: AbortSignal;
  private readonly deadline = new AbortController();
  private readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, callerSignal: AbortSignal | undefined) {
    this.timeoutMs = timeoutMs;
    this.signal = callerSignal === undefined ? this.deadline.signal : AbortSignal.any([this.deadline.signal, callerSignal]);
    this.touch();
  }

  get timedOut(): boolean {
    return this.deadline.signal.aborted;
  }

  touch(): void {
    clearTimeout(this.timer);
    if (this.deadline.signal.aborted) return;
    this.timer = setTimeout(() => this.deadline.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
  }

  finish(): void {
    clearTimeout(this.timer);
  }
}

// ---- upload sources ---------------------------------------------------------------------

/** Counts bytes handed to the HTTP request, across all files of one add. */
class Progress {
  /** The operation the upload belongs to: each piece sent re-arms its deadline. */
  call: Call | undefined;
  /** A failure reading a local file during the upload. */
  readError: FatalError | undefined;
  private sent = 0;
  private readonly listener: ((progress: AddProgress) => void) | undefined;

  constructor(listener: ((progress: AddProgress) => void) | undefined) {
    this.listener = listener;
  }

  report(bytes: number, path: string): void {
    this.call?.touch();
    this.sent += bytes;
    this.listener?.({ bytes: this.sent, path: path === "" ? undefined : path });
  }
}

async function* single<T>(value: T): AsyncGenerator<T> {
  yield value;
}

async function* pieces(bytes: Uint8Array, path: string, progress: Progress): AsyncGenerator<Uint8Array> {
  if (bytes.byteLength === 0) {
    progress.report(0, path);
    return;
  }
  for (let offset = 0; offset < bytes.byteLength; offset += UPLOAD_PIECE_BYTES) {
    const piece = bytes.subarray(offset, offset + UPLOAD_PIECE_BYTES);
    yield piece;
    progress.report(piece.byteLength, path);
  }
}

/** A file's bytes, opened only when the upload reaches it. */
async function* fileContent(file: string, path: string, progress: Progress): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: UPLOAD_PIECE_BYTES })) {
      yield chunk as Buffer;
      progress.report((chunk as Buffer).byteLength, path);
    }
  } catch (error) {
    progress.readError = new FatalError(STORAGE_ERROR_CODES.localIo, `cannot read ${file} while adding it: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}

/**
 * Lists the folder as add entries under `rootName`: every sub-folder (empty ones too) and every
 * file. Listed before the upload starts, so a problem is reported as such (kubo-rpc-client turns
 * an error thrown while it streams the request into a bare abort).
 */
async function listFolder(folder: string, rootName: string): Promise<{ path: string; file?: string }[]> {
  const listed: { path: string; file?: string }[] = [{ path: rootName }];
  const pending: { dir: string; path: string }[] = [{ dir: folder, path: rootName }];
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const entries = await readdir(next.dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = join(next.dir, entry.name);
      const path = `${next.path}/${entry.name}`;
      if (entry.isDirectory()) {
        listed.push({ path });
        pending.push({ dir: full, path });
      } else if (entry.isFile() || (entry.isSymbolicLink() && (await stat(full)).isFile())) {
        // A link to a file is added as that file's content (`ipfs add -r` would store a UnixFS
        // symlink, whose target a provider's machine would not have).
        listed.push({ path, file: full });
      } else {
        // A link to a folder could loop; sockets, devices and FIFOs have no content to add.
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${full}: only files, folders and links to files can be added`);
      }
    }
  }
  return listed;
}

async function* folderEntries(listed: { path: string; file?: string }[], progress: Progress): AsyncGenerator<{ path: string; content?: AsyncIterable<Uint8Array> }> {
  for (const entry of listed) {
    yield entry.file === undefined ? { path: entry.path } : { path: entry.path, content: fileContent(entry.file, entry.path, progress) };
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
