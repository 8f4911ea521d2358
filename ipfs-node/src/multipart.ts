/**
 * A streaming `multipart/form-data` reader (RFC 7578) for the `add` endpoint. Parts come out one
 * at a time with their body as an async iterable, so a large upload flows straight into the UnixFS
 * importer without being held in memory. Reading the next part first drains whatever the caller
 * left unread of the current one.
 */

export interface MultipartPart {
  /** Lower-cased header names. */
  headers: Map<string, string>;
  /** `name` parameter of Content-Disposition (Kubo's clients send `file`, `file-1`, `dir-2?mode=0755`…). */
  fieldName: string;
  /** `filename` parameter of Content-Disposition, raw (not URL-decoded). */
  filename: string | undefined;
  contentType: string | undefined;
  body: AsyncIterable<Uint8Array>;
}

export class MultipartError extends Error {}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
const MAX_HEADER_BYTES = 16 * 1024;

/** Returns the boundary of a `multipart/form-data` Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary !== undefined && boundary.length > 0 && boundary.length <= 200 ? boundary : undefined;
}

export async function* readMultipart(source: AsyncIterable<Uint8Array>, boundary: string): AsyncGenerator<MultipartPart> {
  const reader = new MultipartReader(source, boundary);
  for (;;) {
    const headers = await reader.nextPart();
    if (headers === undefined) return;
    const disposition = parseParameters(headers.get("content-disposition") ?? "");
    yield {
      headers,
      fieldName: disposition.get("name") ?? "",
      filename: disposition.get("filename"),
      contentType: headers.get("content-type"),
      body: reader.body(),
    };
  }
}

class MultipartReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** `--boundary`, which opens the first part. */
  private readonly dashBoundary: Buffer;
  /** `\r\n--boundary`, which ends every part body. */
  private readonly delimiter: Buffer;
  private buffer = Buffer.alloc(0);
  private ended = false;
  private started = false;
  /** True while a part body has not been read to its delimiter. */
  private inBody = false;

  constructor(source: AsyncIterable<Uint8Array>, boundary: string) {
    this.iterator = source[Symbol.asyncIterator]();
    this.dashBoundary = Buffer.from(`--${boundary}`);
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** Reads more input; false at the end of the source. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const { value, done } = await this.iterator.next();
    if (done === true) {
      this.ended = true;
      return false;
    }
    this.buffer = this.buffer.length === 0 ? Buffer.from(value) : Buffer.concat([this.buffer, value]);
    return true;
  }

  private async need(bytes: number): Promise<void> {
    while (this.buffer.length < bytes) {
      if (!(await this.fill())) throw new MultipartError("multipart body ended before its closing boundary");
    }
  }

  /** Positions after the next boundary line and returns the part's headers; undefined after the closing boundary. */
  async nextPart(): Promise<Map<string, string> | undefined> {
    while (this.inBody) await this.readBodyChunk();
    if (!this.started) {
      await this.skipPreamble();
      this.started = true;
    }
    // The buffer starts with `--boundary`; what follows says whether another part comes.
    await this.need(this.dashBoundary.length + 2);
    let rest = this.buffer.subarray(this.dashBoundary.length);
    if (rest[0] === 0x2d && rest[1] === 0x2d) {
      // Closing delimiter `--boundary--`: ignore the epilogue, but keep reading so the request is consumed.
      while (await this.fill()) this.buffer = Buffer.alloc(0);
      return undefined;
    }
    // Transport padding (spaces, tabs) may sit between the boundary and its CRLF.
    let offset = this.dashBoundary.length;
    for (;;) {
      await this.need(offset + 2);
      rest = this.buffer.subarray(offset);
      if (rest[0] === 0x20 || rest[0] === 0x09) offset += 1;
      else break;
      if (offset > this.dashBoundary.length + 64) throw new MultipartError("malformed multipart boundary line");
    }
    if (!rest.subarray(0, 2).equals(CRLF)) throw new MultipartError("malformed multipart boundary line");
    this.buffer = this.buffer.subarray(offset + 2);

    let end = this.buffer.indexOf(HEADER_END);
    // A part with no headers at all starts its body right away.
    if (this.buffer.length >= 2 && this.buffer.subarray(0, 2).equals(CRLF)) end = -2;
    while (end === -1) {
      if (this.buffer.length > MAX_HEADER_BYTES) throw new MultipartError(`multipart part headers exceed ${MAX_HEADER_BYTES} bytes`);
      if (!(await this.fill())) throw new MultipartError("multipart body ended inside part headers");
      end = this.buffer.indexOf(HEADER_END);
      if (this.buffer.subarray(0, 2).equals(CRLF)) end = -2;
    }
    const headers = new Map<string, string>();
    if (end >= 0) {
      for (const line of this.buffer.subarray(0, end).toString("utf8").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon <= 0) throw new MultipartError(`malformed multipart header line "${line.slice(0, 80)}"`);
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      this.buffer = this.buffer.subarray(end + HEADER_END.length);
    } else {
      this.buffer = this.buffer.subarray(2);
    }
    this.inBody = true;
    return headers;
  }

  private async skipPreamble(): Promise<void> {
    for (;;) {
      if (this.buffer.length >= this.dashBoundary.length && this.buffer.subarray(0, this.dashBoundary.length).equals(this.dashBoundary)) return;
      const at = this.buffer.indexOf(this.delimiter);
      if (at >= 0) {
        this.buffer = this.buffer.subarray(at + 2);
        return;
      }
      if (this.buffer.length > this.delimiter.length) this.buffer = this.buffer.subarray(this.buffer.length - this.delimiter.length);
      if (!(await this.fill())) throw new MultipartError("multipart body has no boundary (is the Content-Type boundary right?)");
    }
  }

  /** The next bytes of the current body, or undefined once its delimiter is reached. */
  async readBodyChunk(): Promise<Uint8Array | undefined> {
    if (!this.inBody) return undefined;
    for (;;) {
      const at = this.buffer.indexOf(this.delimiter);
      if (at >= 0) {
        const chunk = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + 2); // keep `--boundary` for nextPart
        this.inBody = false;
        return chunk.length > 0 ? chunk : undefined;
      }
      // Everything except a tail that could be the start of the delimiter is body.
      const safe = this.buffer.length - (this.delimiter.length - 1);
      if (safe > 0) {
        const chunk = this.buffer.subarray(0, safe);
        this.buffer = this.buffer.subarray(safe);
        return chunk;
      }
      if (!(await this.fill())) throw new MultipartError("multipart body ended inside a part");
    }
  }

  async *body(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = await this.readBodyChunk();
      if (chunk === undefined) return;
      yield chunk;
    }
  }
}

/** Parses `form-data; name="file"; filename="a b.txt"` into its parameters (lower-cased keys). */
export function parseParameters(header: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const match of header.matchAll(pattern)) {
    const key = match[1]!.toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3]!.trim();
    params.set(key, value);
  }
  return params;
}
