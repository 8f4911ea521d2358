/**
 * {@link Storage} over the Kubo RPC API with `kubo-rpc-client`: works against a Kubo node, a
 * pinning service that speaks the RPC API, or the devnet's embedded node (`@tessellate/ipfs-node`).
 *
 * - Content is added as CIDv1 with raw leaves (so a small file's CID is the sha2-256 of its bytes).
 * - Reads are bounded: `cat`/`get` stop as soon as `maxBytes` is passed.
 * - Every RPC has an inactivity deadline (`timeoutMs` without a byte moving), because
 *   kubo-rpc-client 7's own `timeout` option is not applied to requests.
 * - `add` is sent here with `fetch` rather than kubo-rpc-client, which hides the node's progress
 *   lines and the errors it reports inside a streamed answer. It asks for progress, so its deadline
 *   is one of progress: it fails (retryably) only when for `timeoutMs` no byte was sent and the
 *   node reported nothing stored or pinned, however long the whole upload and pin take.
 * - `addFolder` refuses symbolic links that leave the folder (see {@link listFolder}).
 * - Failures come out typed: `RetryableError` when the node could not be reached or did not answer,
 *   `FatalError` when the input is wrong (bad CID), the content is absent or too large.
 */
import { openAsBlob } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import { create, type KuboRPCClient } from "kubo-rpc-client";
import { CID } from "multiformats/cid";
import { FatalError, RetryableError, TessellateError } from "./errors.ts";
import { STORAGE_ERROR_CODES, type AddOptions, type AddProgress, type Storage } from "./storage.ts";
import { kuboAddForm, kuboAddQuery, type FolderAddEntry } from "./jobRequest.ts";

export { STORAGE_ERROR_CODES } from "./storage.ts";

export interface KuboStorageOptions {
  /** RPC API base URL, e.g. `http://127.0.0.1:5001` (the `/api/v0` path is added when absent). */
  url: string;
  /** Longest wait for the node to answer or to move the next byte; for an add, the longest time without progress (default 30 s). */
  timeoutMs?: number;
}

export const DEFAULT_STORAGE_TIMEOUT_MS = 30_000;

export function createKuboStorage(options: KuboStorageOptions): Storage {
  const url = options.url;
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORAGE_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new FatalError("CONFIG_INVALID", `timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  const client: KuboRPCClient = create({ url });
  const apiBase = apiBaseOf(url);

  /** Runs one storage operation under its own inactivity deadline and translates its failure. */
  async function operation<T>(what: string, signal: AbortSignal | undefined, body: (call: Call) => Promise<T>, stalled = `went ${timeoutMs} ms without answering`): Promise<T> {
    signal?.throwIfAborted();
    const call = new Call(timeoutMs, signal);
    try {
      return await body(call);
    } catch (error) {
      throw translateError(error, { what, url, stalled, call, callerSignal: signal });
    } finally {
      call.finish();
    }
  }

  /**
   * One `add` request of `entries` (folders have no content), read as it streams: progress lines
   * re-arm the deadline and reach `options.onProgress`, an error line becomes the error it names.
   */
  async function addEntries(what: string, entries: AddEntry[], rootPath: string | undefined, options: AddOptions): Promise<string> {
    return operation(what, options.signal, async (call) => {
      // Kubo's clients URL-encode the path in the file name; the node decodes it (the dApp sends the same form).
      const form = kuboAddForm(entries);
      // The platform's multipart encoder; its body is pulled through a counter as fetch sends it.
      const encoded = new Response(form);
      const source = encoded.body!.getReader();
      let readError: FatalError | undefined;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          let next: ReadableStreamReadResult<Uint8Array>;
          try {
            next = await source.read();
          } catch (error) {
            readError = new FatalError(STORAGE_ERROR_CODES.localIo, `${what}: a file changed or became unreadable while it was sent: ${(error as Error).message}`, { cause: error });
            controller.error(error);
            return;
          }
          if (next.done) controller.close();
          else {
            call.touch();
            controller.enqueue(next.value);
          }
        },
        cancel: (reason) => source.cancel(reason),
      });
      const query = kuboAddQuery({ pin: options.pin, onlyHash: options.onlyHash });
      const progress = new StoredProgress(options.onProgress);
      let root: string | undefined;
      let last: string | undefined;
      try {
        const response = await fetch(`${apiBase}/add?${query}`, {
          method: "POST",
          body,
          headers: { "Content-Type": encoded.headers.get("content-type")! },
          signal: call.signal,
          duplex: "half",
        } as RequestInit);
        call.touch();
        if (!response.ok) {
          const answer = (await response.text().catch(() => "")).trim();
          throw new NodeRefusal(response.status, kuboMessage(answer) ?? `HTTP ${response.status}`);
        }
        for await (const line of ndjsonLines(response.body!)) {
          call.touch();
          if (line.Type === "error") throw new NodeRefusal(typeof line.Status === "number" ? line.Status : line.Code === 0 ? 500 : 400, String(line.Message));
          if (typeof line.Hash === "string") {
            last = line.Hash;
            if (rootPath !== undefined && line.Name === rootPath) root = line.Hash;
          } else if (typeof line.Bytes === "number") {
            progress.line(typeof line.Name === "string" ? line.Name : "", line.Bytes, typeof line.Pinned === "number" ? line.Pinned : undefined);
          }
        }
      } catch (error) {
        // A local file that failed to read mid-upload only shows as a failed request: report the real cause.
        throw readError ?? error;
      }
      if (readError !== undefined) throw readError;
      const cid = rootPath === undefined ? last : root;
      if (cid === undefined) throw new FatalError(STORAGE_ERROR_CODES.rejected, `${what}: the IPFS node at ${url} answered without the CID of ${rootPath ?? "the content"}`);
      return CID.parse(cid).toString();
    }, `made no progress for ${timeoutMs} ms (nothing sent, nothing reported stored or pinned)`);
  }

  const storage: Storage = {
    async addBytes(bytes, options = {}) {
      // What Tessellate adds: CIDv1, raw leaves; Kubo's default chunker (256 KiB) and layout.
      return addEntries("add bytes", [{ path: "", content: new Blob([bytes as Uint8Array<ArrayBuffer>]) }], undefined, options);
    },

    async addFile(path, options = {}) {
      const file = resolve(path);
      const info = await stat(file).catch((error: unknown) => {
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${file}: ${(error as Error).message}`, { cause: error });
      });
      if (!info.isFile()) throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${file}: it is not a regular file`);
      const name = basename(file);
      return addEntries(`add ${file}`, [{ path: name, content: await fileBlob(file) }], name, options);
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
      const entries: AddEntry[] = [];
      for (const entry of listed) entries.push(entry.file === undefined ? { path: entry.path } : { path: entry.path, content: await fileBlob(entry.file) });
      return addEntries(`add ${folder}`, entries, rootName, options);
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
  context: { what: string; url: string; stalled: string; call: Call; callerSignal: AbortSignal | undefined },
): unknown {
  if (error instanceof TessellateError) return error;
  if (context.callerSignal?.aborted === true) return context.callerSignal.reason;
  const { what, url } = context;
  if (context.call.timedOut) {
    return new RetryableError(STORAGE_ERROR_CODES.unavailable, `${what}: the IPFS node at ${url} ${context.stalled}; retry, or check the node`, { cause: error });
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

// ---- uploads ----------------------------------------------------------------------------

/** One part of an add: a folder (no content) or a file. */
type AddEntry = FolderAddEntry<Blob>;

/** The node's answer refusing the upload, shaped like kubo-rpc-client's HTTP errors for {@link translateError}. */
class NodeRefusal extends Error {
  readonly response: { status: number };
  constructor(status: number, message: string) {
    super(message);
    this.name = "NodeRefusal";
    this.response = { status };
  }
}

/** The RPC API root of a node URL, `/api/v0` added when absent (as kubo-rpc-client does). */
function apiBaseOf(url: string): string {
  const base = new URL(url);
  const path = base.pathname.replace(/\/+$/, "");
  base.pathname = path.endsWith("/api/v0") ? path : `${path}/api/v0`;
  return base.toString().replace(/\/+$/, "");
}

function kuboMessage(answer: string): string | undefined {
  try {
    const body = JSON.parse(answer) as { Message?: unknown };
    return typeof body.Message === "string" ? body.Message : undefined;
  } catch {
    return answer === "" ? undefined : answer.slice(0, 300);
  }
}

async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffered = "";
  try {
    for (let next = await reader.read(); next.done !== true; next = await reader.read()) {
      buffered += decoder.decode(next.value, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim() !== "") yield JSON.parse(line) as Record<string, unknown>;
    }
    buffered += decoder.decode();
    if (buffered.trim() !== "") yield JSON.parse(buffered) as Record<string, unknown>;
  } finally {
    // A reader that stops early (an error line) lets the connection go.
    await reader.cancel().catch(() => undefined);
  }
}

async function fileBlob(file: string): Promise<Blob> {
  try {
    // Read lazily, piece by piece, as the upload reaches it.
    return await openAsBlob(file, { type: "application/octet-stream" });
  } catch (error) {
    throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** The node's progress lines, summed over the files of one add. */
class StoredProgress {
  private readonly perFile = new Map<string, number>();
  private stored = 0;
  private readonly listener: ((progress: AddProgress) => void) | undefined;

  constructor(listener: ((progress: AddProgress) => void) | undefined) {
    this.listener = listener;
  }

  line(name: string, bytes: number, pinned: number | undefined): void {
    if (pinned === undefined) {
      this.stored += bytes - (this.perFile.get(name) ?? 0);
      this.perFile.set(name, bytes);
      this.listener?.({ bytes: this.stored, path: name === "" ? undefined : name, stage: "storing" });
    } else {
      this.listener?.({ bytes: this.stored, stage: "pinning", pinnedBlocks: pinned });
    }
  }
}

/**
 * Lists the folder as add entries under `rootName`: every sub-folder (empty ones too) and every
 * file. Listed before the upload starts, so a problem is reported before anything is sent.
 *
 * Symbolic links: a link to a file inside the folder is added as that file's content (`ipfs add
 * -r` would store a UnixFS symlink, whose target a provider's machine would not have). A link
 * whose target is outside the folder (an absolute path, `../…`, or a chain of links that ends
 * outside), a dangling link and a link to a folder (which could loop) are refused, naming the link
 * and its target: a scene folder must never carry a file from elsewhere on the requester's disk.
 */
async function listFolder(folder: string, rootName: string): Promise<{ path: string; file?: string }[]> {
  const root = await realpath(folder);
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
      } else if (entry.isFile()) {
        listed.push({ path, file: full });
      } else if (entry.isSymbolicLink()) {
        listed.push({ path, file: await insideLink(full, root, folder) });
      } else {
        // Sockets, devices and FIFOs have no content to add.
        throw new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${full}: only files, folders and links to files inside the folder can be added`);
      }
    }
  }
  return listed;
}

/** The real path of the file a link inside the folder points to; a FatalError for any other link. */
async function insideLink(link: string, root: string, folder: string): Promise<string> {
  const target = await readlink(link);
  const refuse = (why: string): FatalError =>
    new FatalError(STORAGE_ERROR_CODES.badInput, `cannot add ${folder}: the link ${relative(folder, link)} points to ${target}, ${why}; copy the file into the folder or remove the link`);
  let resolved: string;
  try {
    resolved = await realpath(link);
  } catch {
    throw refuse("which does not exist");
  }
  if (resolved !== root && !resolved.startsWith(root + sep)) throw refuse(`which is outside the folder (${resolved})`);
  if (!(await lstat(resolved)).isFile()) throw refuse("which is not a file (links to folders are not followed)");
  return resolved;
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
