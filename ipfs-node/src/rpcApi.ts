/**
 * The subset of the Kubo RPC API (`POST /api/v0/<command>`) that `kubo-rpc-client` uses for
 * Tessellate's storage: add, cat, get, ls, files/stat, pin/add, pin/ls, version, id. Requests,
 * answers and errors have Kubo's shapes, so the same client code talks to this node or to Kubo.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as dagPb from "@ipld/dag-pb";
import express, { type Request, type Response } from "express";
import type { Helia } from "helia";
import type { ImportCandidate } from "ipfs-unixfs-importer";
import { importer } from "ipfs-unixfs-importer";
import type { Mtime } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import { ApiError, badRequest, kuboErrorBody, notFound, toApiError } from "./apiError.ts";
import { collect, ContentReader, parseIpfsPath } from "./content.ts";
import { type ExplicitDirectory, importerOptions, parseAddParams, parseBool } from "./kuboImport.ts";
import type { IpfsNodeLogger } from "./logger.ts";
import { MultipartError, readMultipart, type MultipartPart } from "./multipart.ts";
import type { NodeIdentity } from "./repo.ts";
import { createTarPack, packDirectory, packFile, type TarPack } from "./tar.ts";
import type { UploadBlockTracker } from "./uploadBlocks.ts";
import { NODE_NAME, NODE_VERSION } from "./version.ts";

export interface RpcApiOptions {
  helia: Helia;
  reader: ContentReader;
  identity: NodeIdentity;
  /** Browser origins allowed to call the API; `*` allows any. Requests without an Origin are always allowed. */
  corsOrigins: readonly string[];
  maxUploadBytes: number;
  /** Tracks the blocks of adds in flight, to delete those of an add that fails. */
  uploads: UploadBlockTracker;
  logger: IpfsNodeLogger;
}

type Command = (req: Request, res: Response, query: URLSearchParams, signal: AbortSignal) => Promise<void>;

/** Progress lines of `add --progress` are written at most once per this many bytes of a file. */
const PROGRESS_STEP_BYTES = 256 * 1024;
/** While an add pins, a progress line goes out at most this often (and only when a block was pinned since). */
const PIN_PROGRESS_INTERVAL_MS = 250;
/** After refusing an upload, read (and discard) at most this much more of it so the client gets the answer. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const DRAIN_LIMIT_MS = 10_000;

export function createRpcApi(options: RpcApiOptions): express.Express {
  const { helia, reader, identity, logger, uploads } = options;
  /** Roots that adds in flight are pinning, with how many of them: an aborted add unpins only a root no other add needs. */
  const pinningRoots = new Map<string, number>();

  const commands: Record<string, Command> = {
    add,
    cat,
    get,
    ls,
    "files/stat": filesStat,
    "pin/add": pinAdd,
    "pin/ls": pinLs,
    version,
    id,
  };

  const app = express();
  app.disable("x-powered-by");
  app.use("/api/v0", corsMiddleware(options.corsOrigins));
  app.all("/api/v0/*command", async (req, res) => {
    const name = req.path.slice("/api/v0/".length).replace(/\/+$/, "");
    const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    try {
      if (command === undefined) throw notFound(`unknown command "${name}": this node implements ${Object.keys(commands).join(", ")}`);
      if (req.method !== "POST") throw new ApiError(405, `method ${req.method} not allowed: the RPC API takes POST requests`);
      await command(req, res, new URL(req.originalUrl, "http://localhost").searchParams, controller.signal);
    } catch (error) {
      sendError(req, res, error);
    }
  });
  app.use((req, res) => {
    sendError(req, res, notFound(`${req.path} is not part of this node's API: use POST /api/v0/<command>`));
  });
  return app;

  function sendError(req: Request, res: Response, error: unknown): void {
    const apiError = toApiError(error);
    if (req.socket.destroyed) {
      logger.debug({ path: req.path, err: apiError.message }, "rpc client went away");
      return;
    }
    if (apiError.status >= 500) logger.error({ path: req.path, err: apiError.message, cause: String(apiError.cause ?? "") }, "rpc request failed");
    else logger.debug({ path: req.path, status: apiError.status, err: apiError.message }, "rpc request refused");
    if (res.writableEnded) return; // the command ended its answer with the error in it
    if (res.headersSent) {
      // The answer is already streaming: cut it, so the client sees a failure rather than a short answer.
      res.destroy(apiError);
      return;
    }
    res
      .status(apiError.status)
      .set("Content-Type", "application/json; charset=utf-8")
      .set("X-Content-Type-Options", "nosniff")
      .end(`${JSON.stringify(kuboErrorBody(apiError))}\n`);
    if (!req.complete) drainRequest(req);
  }

  // ---- add --------------------------------------------------------------------------------

  async function add(req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const params = parseAddParams(query);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > options.maxUploadBytes) throw tooLarge(options.maxUploadBytes);

    const out = new NdjsonWriter(res, params.progress);
    const requestChunks = req.iterator({ destroyOnReturn: false });
    const upload = params.onlyHash ? undefined : uploads.begin();
    const pinnedRoots: string[] = [];
    let kept = false;
    let finished = false;
    let bytes = 0;
    const onBytes = (path: string, fileBytes: number, chunk: number): void => {
      bytes += chunk;
      if (params.progress) out.write({ Name: path, Bytes: fileBytes });
    };
    try {
      // The limit counts the request body as it arrives: crossing it fails the upload at once.
      const parts = readMultipart(limitBytes(requestChunks, options.maxUploadBytes), req.headers["content-type"]);
      const blockstore = upload?.blockstore ?? { put: async (cid: CID) => cid };
      const report = new AddReport(out, params.wrapWithDirectory);
      const candidates = candidatesFrom(parts, onBytes, (path) => report.partPaths.push(path));
      for await (const result of importer(candidates, blockstore, importerOptions(params, report.explicitDirectories))) {
        const isDirectory = result.unixfs?.isDirectory() === true;
        // Directories come last, once every part is read: the empty ones go first.
        if (isDirectory) report.emptyDirectories();
        report.entry(result.path ?? "", result.cid, result.size, isDirectory);
      }
      report.emptyDirectories();
      const roots = report.roots;
      if (roots.length === 0) throw badRequest("add received no files: send at least one multipart part");
      if (params.pin && !params.onlyHash) {
        const created: CID[] = [];
        let pinned = 0;
        let lastLine = Date.now();
        const onBlock = (): void => {
          pinned += 1;
          if (!params.progress || Date.now() - lastLine < PIN_PROGRESS_INTERVAL_MS) return;
          lastLine = Date.now();
          // A Kubo progress line (Name, Bytes) that keeps the answer moving; Pinned counts the blocks pinned so far.
          out.write({ Name: report.rootNames.at(-1) ?? "", Bytes: bytes, Pinned: pinned });
        };
        for (const root of roots) {
          pinnedRoots.push(root.toString());
          pinningRoots.set(root.toString(), (pinningRoots.get(root.toString()) ?? 0) + 1);
          if (await pin(root, true, onBlock)) created.push(root);
        }
        if (signal.aborted) {
          // The client went away while the add pinned: it never learns the CID, so the add is undone.
          for (const root of created) {
            if (pinningRoots.get(root.toString()) === 1) await unpin(root);
          }
          throw new ApiError(499, "add aborted by the client while pinning");
        }
      }
      kept = true;
      logger.info({ root: roots.at(-1)?.toString(), files: report.files, bytes, pinned: params.pin && !params.onlyHash, onlyHash: params.onlyHash }, "added");
      out.end();
    } catch (error) {
      // The failed add's blocks are gone before the client hears of the failure.
      await finish();
      const failure = error instanceof MultipartError ? badRequest(`malformed multipart body: ${error.message}`) : error;
      if (out.streaming && res.headersSent) {
        // Kubo reports a failure during a streamed answer in the body and the X-Stream-Error trailer.
        const apiError = toApiError(failure);
        // The answer ends normally so the error line reaches the client (a cut connection can lose it).
        // Status is this node's addition (Kubo clients ignore it): the HTTP status the error would have had.
        out.write({ ...kuboErrorBody(apiError), Status: apiError.status });
        res.addTrailers({ "X-Stream-Error": apiError.message });
        res.end();
        if (!req.complete) drainRequest(req);
      }
      throw failure;
    } finally {
      await finish();
    }

    async function finish(): Promise<void> {
      if (finished) return;
      finished = true;
      await requestChunks.return?.();
      for (const root of pinnedRoots) {
        const users = (pinningRoots.get(root) ?? 1) - 1;
        if (users > 0) pinningRoots.set(root, users);
        else pinningRoots.delete(root);
      }
      if (upload !== undefined) {
        const deleted = await upload.end(kept);
        if (deleted > 0) logger.info({ blocks: deleted, bytes }, "deleted the blocks of a failed add");
      }
    }
  }

  // ---- cat, get ---------------------------------------------------------------------------

  async function cat(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const path = parseIpfsPath(query.get("arg"));
    const offset = intParam(query, "offset") ?? 0;
    const length = intParam(query, "length");
    const entry = await reader.resolve(path, signal);
    const info = reader.describe(entry);
    if (info.kind === "directory") throw badRequest(`this dag node is a directory: ${path.text}`);
    const start = Math.min(offset, info.size);
    const end = length === undefined ? info.size : Math.min(info.size, start + length);
    res.set({ "Content-Type": "text/plain", "X-Stream-Output": "1", "X-Content-Length": String(end - start) });
    if (end === start) {
      res.end();
      return;
    }
    const chunks = await startedStream(reader.content(entry, { offset: start, length: end - start, signal }));
    await pipeline(Readable.from(chunks, { objectMode: false }), res);
  }

  async function get(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const path = parseIpfsPath(query.get("arg"));
    if (parseBool(query, "compress", false)) throw badRequest("get --compress is not supported by this node: fetch the tar uncompressed");
    const entry = await reader.resolve(path, signal);
    const name = path.segments.at(-1) ?? path.cid.toString();
    res.set({ "Content-Type": "application/x-tar", "X-Stream-Output": "1" });
    const pack = createTarPack();
    void (async () => {
      try {
        await tarEntry(pack, entry, name, signal);
        pack.finalize();
      } catch (error) {
        pack.destroy(error as Error);
      }
    })();
    const chunks = await startedStream(pack as AsyncIterable<Uint8Array>);
    await pipeline(Readable.from(chunks, { objectMode: false }), res);
  }

  async function tarEntry(pack: TarPack, entry: Awaited<ReturnType<ContentReader["resolve"]>>, path: string, signal: AbortSignal): Promise<void> {
    const info = reader.describe(entry);
    if (info.kind === "directory") {
      await packDirectory(pack, { path, mode: info.mode, mtime: info.mtime });
      for await (const child of reader.children(entry, signal)) {
        if (!isSafeName(child.name)) {
          logger.warn({ cid: entry.cid.toString(), name: child.name }, "get skipped a directory entry with an unsafe name");
          continue;
        }
        await tarEntry(pack, child.entry, `${path}/${child.name}`, signal);
      }
    } else if (info.kind === "file") {
      await packFile(pack, { path, size: info.size, mode: info.mode, mtime: info.mtime }, info.size > 0 ? reader.content(entry, { signal }) : noBytes());
    } else {
      logger.warn({ cid: entry.cid.toString(), path }, "get skipped an entry that is neither a file nor a directory");
    }
  }

  // ---- ls, files/stat ---------------------------------------------------------------------

  async function ls(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const args = query.getAll("arg");
    if (args.length === 0) throw badRequest('argument "ipfs-path" is required');
    const stream = parseBool(query, "stream", false);
    const withSize = parseBool(query, "size", true);
    const paths = args.map((arg) => parseIpfsPath(arg));
    const out = new NdjsonWriter(res, stream);
    const objects: { Hash: string; Links: unknown[] }[] = [];
    for (const path of paths) {
      const entry = await reader.resolve(path, signal);
      const object = { Hash: path.text, Links: [] as unknown[] };
      for await (const child of reader.children(entry, signal)) {
        const info = reader.describe(child.entry);
        const link = { Name: child.name, Hash: child.cid.toString(), Size: withSize ? info.size : 0, Type: info.linkType, Target: "" };
        if (stream) out.write({ Objects: [{ Hash: path.text, Links: [link] }] });
        else object.Links.push(link);
      }
      if (!stream) objects.push(object);
      else if (object.Links.length === 0 && reader.describe(entry).kind !== "directory") out.write({ Objects: [object] });
    }
    if (!stream) out.write({ Objects: objects });
    out.end();
  }

  async function filesStat(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const arg = query.get("arg");
    if (arg === null || arg === "") throw badRequest('argument "path" is required');
    if (!arg.startsWith("/ipfs/")) throw badRequest(`invalid path "${arg}": this node has no MFS; stat an /ipfs/<cid>[/path] path`);
    const entry = await reader.resolve(parseIpfsPath(arg), signal);
    const info = reader.describe(entry);
    const body: Record<string, unknown> = {
      Hash: entry.cid.toString(),
      Size: info.kind === "directory" ? 0 : info.size,
      CumulativeSize: info.cumulativeSize,
      Blocks: info.blocks,
      Type: info.kind === "directory" ? "directory" : info.kind === "symlink" ? "symlink" : "file",
    };
    if (parseBool(query, "with-local", false)) Object.assign(body, { WithLocality: true, Local: true, SizeLocal: info.cumulativeSize });
    res.json(body);
  }

  // ---- pins -------------------------------------------------------------------------------

  /**
   * Pins `cid` (Kubo's pin add is idempotent); true when this call created the pin.
   *
   * Not abortable, on purpose: Helia's graph walker throws the AbortError of an aborted walk from
   * its queue's abort listener, where nothing can catch it, and the process dies (issue: `add`
   * cut by the client while it pinned killed the node); an interrupted `pins.add` would also leave
   * pin counts on the blocks walked so far without a pin record. The walk is local and bounded,
   * so it runs to its end and the caller undoes it if its client went away.
   */
  async function pin(cid: CID, recursive: boolean, onBlock?: () => void): Promise<boolean> {
    const depth = recursive ? Infinity : 0;
    try {
      const existing = await helia.pins.get(cid);
      if (existing.depth === depth) return false;
      await unpin(cid);
    } catch (error) {
      if ((error as Error).name !== "NotFoundError") throw error;
    }
    try {
      // offline: a block missing here is an error at once, not a network lookup.
      const pinOptions = { depth, offline: true, metadata: { cidVersion: cid.version } };
      for await (const _ of helia.pins.add(cid, pinOptions)) onBlock?.();
    } catch (error) {
      if ((error as Error).name === "BlockNotFoundWhileOfflineError" || (error as Error).name === "InvalidConfigurationError") {
        throw notFound(`cannot pin ${cid}: some of its blocks were not found locally (offline)`);
      }
      throw error;
    }
    return true;
  }

  /** Removes the pin of `cid` (not abortable, for the reason given at {@link pin}). */
  async function unpin(cid: CID): Promise<void> {
    for await (const _ of helia.pins.rm(cid)) {
      // walking the DAG un-pins its blocks
    }
  }

  async function pinAdd(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const args = query.getAll("arg");
    if (args.length === 0) throw badRequest('argument "ipfs-path" is required');
    const recursive = parseBool(query, "recursive", true);
    const pinned: string[] = [];
    for (const path of args.map((arg) => parseIpfsPath(arg))) {
      const entry = await reader.resolve(path, signal);
      // Helia's pin walker crashes the process on a missing block: make sure there is none first.
      await assertComplete(entry.cid, recursive, signal);
      await pin(entry.cid, recursive);
      pinned.push(entry.cid.toString());
    }
    logger.info({ pins: pinned, recursive }, "pinned");
    res.json({ Pins: pinned });
  }

  async function pinLs(_req: Request, res: Response, query: URLSearchParams, signal: AbortSignal): Promise<void> {
    const type = query.get("type") ?? "all";
    if (!["all", "direct", "indirect", "recursive"].includes(type)) throw badRequest(`invalid type "${type}": must be one of all, direct, indirect, recursive`);
    const stream = parseBool(query, "stream", false);
    const found: { cid: string; type: string }[] = [];
    const args = query.getAll("arg");
    if (args.length > 0) {
      for (const path of args.map((arg) => parseIpfsPath(arg))) {
        const cid = path.segments.length === 0 ? path.cid : (await reader.resolve(path, signal)).cid;
        const pinType = await pinTypeOf(cid, signal);
        if (pinType === undefined || (type !== "all" && pinType !== type)) throw notFound(`path '${path.text}' is not pinned${type === "all" ? "" : ` as ${type}`}`);
        found.push({ cid: path.segments.length === 0 ? path.text.replace(/^\/ipfs\//, "") : cid.toString(), type: pinType });
      }
    } else {
      const roots: CID[] = [];
      for await (const pinned of helia.pins.ls({ signal })) {
        const cid = pinned.metadata.cidVersion === 0 ? toV0(pinned.cid) : pinned.cid;
        const pinType = pinned.depth === 0 ? "direct" : "recursive";
        if (pinType === "recursive") roots.push(cid);
        if (type === "all" || type === pinType) found.push({ cid: cid.toString(), type: pinType });
      }
      if (type === "all" || type === "indirect") {
        const listed = new Set(found.map((entry) => entry.cid));
        for (const cid of await indirectPins(roots, signal)) {
          if (!listed.has(cid)) found.push({ cid, type: "indirect" });
        }
      }
    }
    if (stream) {
      const out = new NdjsonWriter(res, true);
      for (const entry of found) out.write({ Cid: entry.cid, Type: entry.type, Name: "" });
      out.end();
    } else {
      res.json({ Keys: Object.fromEntries(found.map((entry) => [entry.cid, { Type: entry.type, Name: "" }])) });
    }
  }

  async function pinTypeOf(cid: CID, signal: AbortSignal): Promise<string | undefined> {
    try {
      const pinned = await helia.pins.get(cid, { signal });
      return pinned.depth === 0 ? "direct" : "recursive";
    } catch (error) {
      if ((error as Error).name !== "NotFoundError") throw error;
    }
    return (await helia.pins.isPinned(cid, { signal })) ? "indirect" : undefined;
  }

  /** Rejects with a 404 naming the first block of the DAG (or the root alone) missing here. */
  async function assertComplete(root: CID, recursive: boolean, signal: AbortSignal): Promise<void> {
    const pending = [root];
    const seen = new Set<string>();
    for (let cid = pending.pop(); cid !== undefined; cid = pending.pop()) {
      signal.throwIfAborted();
      if (!(await reader.blocks.has(cid, { signal }))) throw notFound(`cannot pin ${root}: block ${cid} was not found locally (offline)`);
      if (!recursive || cid.code !== dagPb.code) continue;
      for (const link of dagPb.decode(await collect(reader.blocks.get(cid, { signal }))).Links) {
        const key = link.Hash.toString();
        if (seen.has(key)) continue;
        seen.add(key);
        pending.push(link.Hash);
      }
    }
  }

  /** Every CID below the recursive pins (raw leaves have no links, so only dag-pb blocks are read). */
  async function indirectPins(roots: CID[], signal: AbortSignal): Promise<Set<string>> {
    const seen = new Set<string>();
    const pending = [...roots];
    for (let cid = pending.pop(); cid !== undefined; cid = pending.pop()) {
      if (cid.code !== dagPb.code) continue;
      signal.throwIfAborted();
      const node = dagPb.decode(await collect(reader.blocks.get(cid, { signal })));
      for (const link of node.Links) {
        const key = link.Hash.toString();
        if (seen.has(key)) continue;
        seen.add(key);
        pending.push(link.Hash);
      }
    }
    return seen;
  }

  // ---- node info --------------------------------------------------------------------------

  async function version(_req: Request, res: Response): Promise<void> {
    res.json({ Version: NODE_VERSION, Commit: "", Repo: "helia-fs", System: `${process.arch}/${process.platform}`, Golang: `node ${process.version}` });
  }

  async function id(_req: Request, res: Response, query: URLSearchParams): Promise<void> {
    const peer = query.get("arg");
    if (peer !== null && peer !== "" && peer !== identity.peerId) throw badRequest(`this node has no networking and knows no peer but itself (${identity.peerId})`);
    res.json({
      ID: identity.peerId,
      PublicKey: identity.publicKey,
      Addresses: [],
      AgentVersion: `${NODE_NAME}/${NODE_VERSION} ${helia.info.name}/${helia.info.version}`,
      Protocols: [],
    });
  }
}

// ---- helpers ------------------------------------------------------------------------------

function tooLarge(max: number): ApiError {
  return new ApiError(413, `upload too large: this node accepts at most ${max} bytes per add request (raise maxUploadBytes / --max-upload-bytes to allow more)`);
}

async function* limitBytes(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > max) throw tooLarge(max);
    yield chunk;
  }
}

/** Reads and discards what is left of a refused request, within limits, so the client can read the answer. */
function drainRequest(req: IncomingMessage): void {
  let drained = 0;
  const timer = setTimeout(() => req.socket.destroy(), DRAIN_LIMIT_MS);
  timer.unref();
  req.on("data", (chunk: Buffer) => {
    drained += chunk.byteLength;
    if (drained > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.on("close", () => clearTimeout(timer));
  req.resume();
}

/** Turns multipart parts into importer candidates the way Kubo reads them. */
async function* candidatesFrom(
  parts: AsyncIterable<MultipartPart>,
  onBytes: (path: string, fileBytes: number, chunk: number) => void,
  onPart: (path: string) => void,
): AsyncGenerator<ImportCandidate> {
  for await (const part of parts) {
    const fieldQuery = part.fieldName.split("?", 2)[1] ?? "";
    const meta = partMetadata(new URLSearchParams(fieldQuery));
    const path = partPath(part.filename ?? "");
    onPart(path);
    if (part.contentType === "application/x-directory") {
      yield { path, ...meta };
    } else if (part.contentType === "application/symlink") {
      const target = Buffer.from(await collect(part.body, 4096)).toString("utf8");
      yield { path, link: target, ...meta } as ImportCandidate;
    } else {
      yield { path, content: counted(part.body, path, onBytes), ...meta };
    }
  }
}

async function* counted(
  body: AsyncIterable<Uint8Array>,
  path: string,
  onBytes: (path: string, fileBytes: number, chunk: number) => void,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  let reported = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total - reported >= PROGRESS_STEP_BYTES) {
      onBytes(path, total, total - reported);
      reported = total;
    }
    yield chunk;
  }
  onBytes(path, total, total - reported);
}

function partMetadata(query: URLSearchParams): { mode?: number; mtime?: Mtime } {
  const meta: { mode?: number; mtime?: Mtime } = {};
  const mode = query.get("mode");
  if (mode !== null) {
    if (!/^[0-7]{1,6}$/.test(mode)) throw badRequest(`invalid file mode "${mode}": expected octal digits`);
    meta.mode = Number.parseInt(mode, 8);
  }
  const secs = query.get("mtime");
  if (secs !== null) {
    if (!/^-?\d+$/.test(secs)) throw badRequest(`invalid mtime "${secs}": expected whole seconds`);
    const nsecs = Number(query.get("mtime-nsecs") ?? "0");
    if (!Number.isInteger(nsecs) || nsecs < 0 || nsecs > 999_999_999) throw badRequest(`invalid mtime-nsecs "${query.get("mtime-nsecs")}"`);
    meta.mtime = { secs: BigInt(secs), nsecs };
  }
  return meta;
}

/** The importer path of a part: URL-decoded (kubo-rpc-client encodes it), `/`-separated, no `..`. */
function partPath(filename: string): string {
  let decoded = filename;
  try {
    decoded = decodeURIComponent(filename);
  } catch {
    // not URL-encoded (a browser's FormData): take it as is
  }
  const segments = decoded.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) throw badRequest(`invalid file path "${decoded}": ".." is not allowed`);
  return segments.join("/");
}

async function* noBytes(): AsyncGenerator<Uint8Array> {}

function isSafeName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\0");
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === "") return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw badRequest(`invalid value "${value}" for option "${name}": expected a non-negative integer`);
  return Number(value);
}

function toV0(cid: CID): CID {
  try {
    return cid.toV0();
  } catch {
    return cid;
  }
}

/** Awaits the first chunk, so that an error before any byte becomes a proper HTTP status. */
async function startedStream(source: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  return (async function* () {
    try {
      if (first.done === true) return;
      yield first.value;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
    } finally {
      // A reader that stops early (the client went away) stops the source too.
      await iterator.return?.();
    }
  })();
}

/** The entry lines of an `add` answer, and the roots to pin, as Kubo reports them. */
class AddReport {
  /** What Kubo pins after an add: the wrapping directory, or each top-level entry. */
  readonly roots: CID[] = [];
  /** The names the roots were reported under. */
  readonly rootNames: string[] = [];
  files = 0;
  /** Directories sent as parts of their own, as the importer built them. */
  readonly explicitDirectories = new Map<string, ExplicitDirectory>();
  /** The path of every part, in order. */
  readonly partPaths: string[] = [];
  private readonly out: NdjsonWriter;
  private readonly wrapped: boolean;
  private readonly reported = new Set<string>();
  private emptyDirectoriesDone = false;

  constructor(out: NdjsonWriter, wrapped: boolean) {
    this.out = out;
    this.wrapped = wrapped;
  }

  entry(path: string, cid: CID, size: bigint | number, isDirectory: boolean): void {
    this.reported.add(path);
    // Kubo names an entry added without a file name by its CID; the wrapping directory is "".
    const name = path === "" && !(this.wrapped && isDirectory) ? cid.toString() : path;
    if (!isDirectory) this.files += 1;
    this.out.write({ Name: name, Hash: cid.toString(), Size: String(size) });
    if (this.wrapped ? path === "" : !path.includes("/")) {
      this.roots.push(cid);
      this.rootNames.push(name);
    }
  }

  /** Reports the directory parts that stayed empty: the importer leaves them out, Kubo does not. */
  emptyDirectories(): void {
    if (this.emptyDirectoriesDone) return;
    this.emptyDirectoriesDone = true;
    for (const [path, directory] of this.explicitDirectories) {
      const hasContent = this.partPaths.some((other) => other.startsWith(`${path}/`));
      if (!this.reported.has(path) && !hasContent) this.entry(path, directory.cid, directory.size, true);
    }
  }
}

/** Newline-delimited JSON, streamed as written or held until the end (so an error can still set the status). */
class NdjsonWriter {
  readonly streaming: boolean;
  private readonly res: Response;
  private readonly held: string[] = [];

  constructor(res: Response, streaming: boolean) {
    this.res = res;
    this.streaming = streaming;
  }

  write(value: unknown): void {
    // The client went away (an add still pinning, say): there is no one to write to.
    if (this.res.destroyed || this.res.writableEnded) return;
    const line = `${JSON.stringify(value)}\n`;
    if (!this.streaming) {
      this.held.push(line);
      return;
    }
    if (!this.res.headersSent) {
      this.res.status(200).set({ "Content-Type": "application/json", "X-Chunked-Output": "1", Trailer: "X-Stream-Error" });
    }
    this.res.write(line);
  }

  end(): void {
    if (!this.res.headersSent) this.res.status(200).set({ "Content-Type": "application/json", "X-Chunked-Output": "1" });
    this.res.end(this.held.join(""));
  }
}

function corsMiddleware(origins: readonly string[]): express.RequestHandler {
  const anyOrigin = origins.includes("*");
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined) {
      next();
      return;
    }
    if (!anyOrigin && !origins.includes(origin)) {
      res
        .status(403)
        .set("Content-Type", "application/json; charset=utf-8")
        .end(`${JSON.stringify(kuboErrorBody(new ApiError(403, `origin ${origin} is not allowed to use this node's API: add it to the node's CORS origins (--cors-origin)`)))}\n`);
      if (!req.complete) drainRequest(req);
      return;
    }
    res.set({
      "Access-Control-Allow-Origin": origin,
      Vary: "Origin",
      "Access-Control-Expose-Headers": "X-Stream-Output, X-Chunked-Output, X-Content-Length, X-Stream-Error",
    });
    if (req.method === "OPTIONS") {
      res
        .status(204)
        .set({
          "Access-Control-Allow-Methods": "POST",
          "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "Content-Type",
          "Access-Control-Max-Age": "600",
        })
        .end();
      return;
    }
    next();
  };
}
