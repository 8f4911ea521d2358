/**
 * The read-only HTTP gateway: `GET /ipfs/<cid>[/path]` on its own port, like Kubo's. Files come
 * with a Content-Type (from the name, else sniffed), Range support, and immutable caching;
 * folders redirect to a trailing slash, then serve their `index.html` or a listing.
 * `?format=raw` (or `Accept: application/vnd.ipld.raw`) returns the block itself.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import express, { type Request, type Response } from "express";
import type { UnixFSEntry } from "ipfs-unixfs-exporter";
import { ApiError, toApiError } from "./apiError.ts";
import { collect, type ContentReader, type IpfsPath, parseCid } from "./content.ts";
import { sniffType, typeFromName } from "./contentType.ts";
import type { IpfsNodeLogger } from "./logger.ts";

export interface GatewayOptions {
  reader: ContentReader;
  logger: IpfsNodeLogger;
}

/** Bytes read from the start of a file to guess its type when its name does not tell. */
const SNIFF_BYTES = 4096;

export function createGateway(options: GatewayOptions): express.Express {
  const { reader, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((req, res, next) => {
    res.set("Access-Control-Allow-Origin", "*");
    if (req.method === "OPTIONS") {
      res.set({ "Access-Control-Allow-Methods": "GET, HEAD", "Access-Control-Allow-Headers": "Range, Content-Type", "Access-Control-Expose-Headers": "Content-Range, Content-Length, X-Ipfs-Path" });
      res.status(204).end();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendError(res, new ApiError(405, `method ${req.method} not allowed: this gateway is read-only`));
      return;
    }
    next();
  });

  app.get("/", (_req, res) => {
    res.type("text/plain").send("Tessellate IPFS gateway (read-only): GET /ipfs/<cid>[/path]\n");
  });

  app.get("/ipfs/*splat", async (req, res) => {
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    try {
      await serve(req, res, controller.signal);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error as Error);
        return;
      }
      sendError(res, error);
    }
  });

  app.use((req, res) => sendError(res, new ApiError(404, `${req.path} not found: this gateway serves /ipfs/<cid>[/path]`)));
  return app;

  function sendError(res: Response, error: unknown): void {
    const apiError = toApiError(error);
    if (apiError.status >= 500) logger.error({ err: apiError.message }, "gateway request failed");
    res.status(apiError.status).type("text/plain").send(`${apiError.status} ${apiError.message}\n`);
  }

  async function serve(req: Request, res: Response, signal: AbortSignal): Promise<void> {
    const path = gatewayPath(req.path);
    const ipfsPath = `/ipfs/${[path.cid.toString(), ...path.segments].map(encodeURIComponent).join("/")}`;
    const entry = await reader.resolve(path, signal);
    const etag = `"${entry.cid}"`;
    res.set({ "X-Ipfs-Path": ipfsPath, "Cache-Control": "public, max-age=29030400, immutable" });

    if (req.query.format === "raw" || (req.headers.accept ?? "").includes("application/vnd.ipld.raw")) {
      const block = await collect(reader.blocks.get(entry.cid, { signal }));
      res.set({ "Content-Type": "application/vnd.ipld.raw", ETag: `"${entry.cid}.raw"`, "X-Content-Type-Options": "nosniff" });
      res.send(Buffer.from(block));
      return;
    }
    if (req.headers["if-none-match"] === etag) {
      res.status(304).set("ETag", etag).end();
      return;
    }

    const info = reader.describe(entry);
    if (info.kind === "directory") {
      if (!req.path.endsWith("/")) {
        const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?")) : "";
        res.redirect(301, `${req.path}/${query}`);
        return;
      }
      for await (const child of reader.children(entry, signal)) {
        if (child.name === "index.html" && reader.describe(child.entry).kind === "file") {
          await serveFile(req, res, child.entry, "index.html", `"${child.cid}"`, signal);
          return;
        }
      }
      await serveListing(res, path, entry, etag, signal);
      return;
    }
    if (info.kind !== "file") throw new ApiError(501, `${path.cid} is a ${info.kind}, which this gateway does not serve`);
    const name = typeof req.query.filename === "string" ? req.query.filename : (path.segments.at(-1) ?? "");
    await serveFile(req, res, entry, name, etag, signal);
  }

  async function serveFile(req: Request, res: Response, entry: UnixFSEntry, name: string, etag: string, signal: AbortSignal): Promise<void> {
    const size = reader.describe(entry).size;
    let type = typeFromName(name);
    if (type === undefined) {
      const sample = size === 0 ? new Uint8Array(0) : await collect(reader.content(entry, { offset: 0, length: Math.min(size, SNIFF_BYTES), signal }));
      type = sniffType(sample, size <= SNIFF_BYTES);
    }
    res.set({ "Content-Type": type, ETag: etag, "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff" });
    if (typeof req.query.filename === "string") {
      const disposition = req.query.download === "true" ? "attachment" : "inline";
      res.set("Content-Disposition", `${disposition}; filename="${req.query.filename.replace(/["\\\r\n]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(req.query.filename)}`);
    }

    let start = 0;
    let end = size; // exclusive
    const ranges = req.headers.range === undefined ? undefined : req.range(size, { combine: true });
    if (ranges === -1) {
      res.status(416).set("Content-Range", `bytes */${size}`).end();
      return;
    }
    if (Array.isArray(ranges) && ranges.type === "bytes" && ranges.length === 1) {
      start = ranges[0]!.start;
      end = ranges[0]!.end + 1;
      res.status(206).set("Content-Range", `bytes ${start}-${end - 1}/${size}`);
    }
    // Several ranges (or a malformed Range) are answered with the whole file, as RFC 9110 allows.
    res.set("Content-Length", String(end - start));
    if (req.method === "HEAD" || end === start) {
      res.end();
      return;
    }
    await pipeline(Readable.from(reader.content(entry, { offset: start, length: end - start, signal }), { objectMode: false }), res);
  }

  async function serveListing(res: Response, path: IpfsPath, entry: UnixFSEntry, etag: string, signal: AbortSignal): Promise<void> {
    const base = `/ipfs/${[path.cid.toString(), ...path.segments].map(encodeURIComponent).join("/")}/`;
    const rows: string[] = [];
    if (path.segments.length > 0) rows.push(`<tr><td><a href="../">..</a></td><td></td><td></td></tr>`);
    for await (const child of reader.children(entry, signal)) {
      const info = reader.describe(child.entry);
      const label = info.kind === "directory" ? `${child.name}/` : child.name;
      rows.push(
        `<tr><td><a href="${escapeHtml(base + encodeURIComponent(child.name))}${info.kind === "directory" ? "/" : ""}">${escapeHtml(label)}</a></td>` +
          `<td>${info.kind === "directory" ? "" : info.size}</td><td><code>${child.cid}</code></td></tr>`,
      );
    }
    const title = escapeHtml(`/ipfs/${[path.cid.toString(), ...path.segments].join("/")}/`);
    res.set({ "Content-Type": "text/html; charset=utf-8", ETag: `${etag.slice(0, -1)}.listing"` });
    res.send(
      `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body>\n<h1>Index of ${title}</h1>\n` +
        `<table><thead><tr><th>Name</th><th>Size</th><th>CID</th></tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table>\n</body></html>\n`,
    );
  }
}

/** `/ipfs/<cid>/a%20b/c` → the CID and the decoded segments. */
function gatewayPath(requestPath: string): IpfsPath {
  const [cidText = "", ...rest] = requestPath.slice("/ipfs/".length).split("/");
  const segments = rest.filter((segment) => segment !== "").map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new ApiError(400, `invalid path segment "${segment}": bad percent-encoding`);
    }
  });
  return { cid: parseCid(cidText, requestPath), segments: segments.filter((segment) => segment !== "."), text: requestPath };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
