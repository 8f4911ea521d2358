/**
 * The `multipart/form-data` body of an `add` request (RFC 7578), parsed by `busboy` and handed
 * out one part at a time, each with its body as a stream, so a large upload flows straight into
 * the UnixFS importer without being held in memory. Asking for the next part discards whatever the
 * caller left unread of the current one.
 */
import { once } from "node:events";
import type { Readable } from "node:stream";
import busboy from "busboy";

export interface MultipartPart {
  /** `name` parameter of Content-Disposition (Kubo's clients send `file`, `file-1`, `dir-2?mode=0755`…). */
  fieldName: string;
  /** `filename` parameter of Content-Disposition, raw (not URL-decoded); undefined when the part has none. */
  filename: string | undefined;
  /** The part's media type, lower-cased, without parameters (busboy's default `text/plain` when it has none). */
  contentType: string;
  body: AsyncIterable<Uint8Array>;
}

export class MultipartError extends Error {}

/**
 * A part without a file name is what busboy calls a field: it holds the value in memory, so its
 * size is capped (a client sends real content as a file part, as kubo-rpc-client and `curl -F
 * file=@…` do).
 */
export const MAX_FIELD_BYTES = 1024 * 1024;

/**
 * Reads the parts of `source`, a request body of the given Content-Type. An error of `source`
 * itself (the upload limit, a client that went away) reaches the reader of the part being read,
 * as it is; a malformed body rejects with a {@link MultipartError}.
 */
export async function* readMultipart(source: AsyncIterable<Uint8Array>, contentType: string | undefined): AsyncGenerator<MultipartPart> {
  if (contentType === undefined || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) {
    throw new MultipartError("expected a multipart/form-data body with a boundary (as kubo-rpc-client and browsers' FormData send)");
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      // Keep the folders in file names: they are the paths inside the added tree.
      preservePath: true,
      // A field (a part without file name) is decoded to a string: latin1 maps bytes 1:1, so its bytes come back intact.
      defCharset: "latin1",
      defParamCharset: "utf8",
      limits: { fieldSize: MAX_FIELD_BYTES },
    });
  } catch (error) {
    throw new MultipartError((error as Error).message);
  }

  const parts: MultipartPart[] = [];
  let finished = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const stop = new AbortController();
  parser.on("file", (fieldName, stream, info) => {
    parts.push({ fieldName, filename: info.filename, contentType: info.mimeType.toLowerCase(), body: stream });
    notify();
  });
  parser.on("field", (fieldName, value, info) => {
    if (info.valueTruncated) {
      failure ??= new MultipartError(`part "${fieldName}" has no file name and is over ${MAX_FIELD_BYTES} bytes: send content as a file part (with a filename)`);
    } else {
      parts.push({ fieldName, filename: undefined, contentType: info.mimeType.toLowerCase(), body: fieldBody(Buffer.from(value, "latin1")) });
    }
    notify();
  });
  parser.on("error", (error: Error) => {
    failure ??= new MultipartError(error.message);
    notify();
  });
  parser.on("close", () => {
    finished = true;
    stop.abort();
    notify();
  });

  const pump = (async () => {
    try {
      for await (const chunk of source) {
        if (!parser.write(chunk)) await once(parser, "drain", { signal: stop.signal });
      }
      parser.end();
    } catch (error) {
      if (stop.signal.aborted) return; // the parser is closed: nothing more to feed it
      // Passed on as is, so that e.g. the upload limit's 413 reaches the caller.
      failure ??= error;
      parser.destroy(error as Error);
      notify();
    }
  })();

  let current: MultipartPart | undefined;
  try {
    for (;;) {
      if (current !== undefined && isReadable(current.body)) {
        const body = current.body;
        if (!body.readableEnded && !body.destroyed) {
          body.resume();
          await once(body, "end").catch(() => undefined);
        }
      }
      while (parts.length === 0 && !finished && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
      if (failure !== undefined) throw failure;
      current = parts.shift();
      if (current === undefined) return;
      yield current;
    }
  } finally {
    // Not awaited: the pump may wait for the client's next chunk; it ends on its own once the parser is closed.
    if (!finished) parser.destroy();
    stop.abort();
    void pump;
  }
}

async function* fieldBody(value: Uint8Array): AsyncGenerator<Uint8Array> {
  yield value;
}

function isReadable(body: AsyncIterable<Uint8Array>): body is Readable {
  return typeof (body as Partial<Readable>).resume === "function";
}
