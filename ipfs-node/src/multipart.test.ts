import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_FIELD_BYTES, MultipartError, readMultipart } from "./multipart.ts";

const boundary = "-----------------------------abc123";
const contentType = `multipart/form-data; boundary=${boundary}`;

function body(parts: { headers: string[]; content: string | Uint8Array }[], preamble = ""): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble)];
  for (const part of parts) {
    pieces.push(Buffer.from(`--${boundary}\r\n${part.headers.join("\r\n")}\r\n\r\n`), Buffer.from(part.content), Buffer.from("\r\n"));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

async function* inPieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) yield bytes.subarray(offset, offset + size);
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<{ fieldName: string; filename?: string; contentType: string; content: string }[]> {
  const parts = [];
  for await (const part of readMultipart(source, contentType)) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of part.body) chunks.push(chunk);
    parts.push({ fieldName: part.fieldName, filename: part.filename, contentType: part.contentType, content: Buffer.concat(chunks).toString("latin1") });
  }
  return parts;
}

const sample = body(
  [
    { headers: ['Content-Disposition: form-data; name="dir"; filename="folder"', "Content-Type: application/x-directory"], content: "" },
    { headers: ['Content-Disposition: form-data; name="file-1?mode=0644"; filename="folder%2Fa.txt"', "Content-Type: application/octet-stream"], content: "first\r\n--not-the-boundary\r\n" },
    { headers: ['Content-Disposition: form-data; name="file-2"; filename="folder%2Fempty"'], content: "" },
    { headers: ['Content-Disposition: form-data; name="file-3"; filename="b.bin"'], content: Buffer.from([0, 13, 10, 45, 45, 255]) },
    { headers: ['Content-Disposition: form-data; name="nameless"'], content: Buffer.from([0, 200, 255, 10]) },
  ],
  "preamble to ignore\r\n",
);

test("reads every part the same whatever the chunking of the request", async () => {
  const expected = await readAll(inPieces(sample, sample.byteLength));
  assert.deepEqual(
    expected.map((part) => [part.fieldName, part.filename, part.contentType, part.content]),
    [
      ["dir", "folder", "application/x-directory", ""],
      ["file-1?mode=0644", "folder%2Fa.txt", "application/octet-stream", "first\r\n--not-the-boundary\r\n"],
      ["file-2", "folder%2Fempty", "text/plain", ""],
      ["file-3", "b.bin", "text/plain", Buffer.from([0, 13, 10, 45, 45, 255]).toString("latin1")],
      ["nameless", undefined, "text/plain", Buffer.from([0, 200, 255, 10]).toString("latin1")],
    ],
  );
  for (const size of [1, 2, 3, 7, 41, 64]) {
    assert.deepEqual(await readAll(inPieces(sample, size)), expected, `pieces of ${size} bytes`);
  }
});

test("skips a part's unread body when the next part is asked for", async () => {
  const names: string[] = [];
  for await (const part of readMultipart(inPieces(sample, 5), contentType)) names.push(part.fieldName);
  assert.deepEqual(names, ["dir", "file-1?mode=0644", "file-2", "file-3", "nameless"]);
});

test("rejects a body cut before its closing boundary, and a body that is not multipart", async () => {
  const cut = sample.subarray(0, sample.byteLength - 60);
  await assert.rejects(readAll(inPieces(cut, 16)), MultipartError);
  await assert.rejects(readAll(inPieces(Buffer.from("no boundary at all"), 4)), MultipartError);
  await assert.rejects(readAll2(inPieces(sample, 64), "application/json"), /expected a multipart\/form-data body/);
  await assert.rejects(readAll2(inPieces(sample, 64), "multipart/form-data"), MultipartError);
});

test("hands a failure of the request stream to the reader of the part, as it is", async () => {
  const limit = new Error("upload too large");
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield sample.subarray(0, 400);
    throw limit;
  }
  await assert.rejects(readAll(failing()), (error) => error === limit);
});

test("refuses a part without file name over the field limit", async () => {
  const big = body([{ headers: ['Content-Disposition: form-data; name="file"'], content: new Uint8Array(MAX_FIELD_BYTES + 1) }]);
  await assert.rejects(readAll(inPieces(big, 64 * 1024)), /has no file name and is over/);
});

async function readAll2(source: AsyncIterable<Uint8Array>, type: string): Promise<unknown[]> {
  const parts = [];
  for await (const part of readMultipart(source, type)) parts.push(part.fieldName);
  return parts;
}
