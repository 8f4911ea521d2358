import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, type KuboRPCClient } from "kubo-rpc-client";
import { startIpfsNode, type IpfsNode } from "./index.ts";

/** A valid 1×1 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

let node: IpfsNode;
let client: KuboRPCClient;
let repoDir: string;
let site: string;
let frame: string;

before(async () => {
  repoDir = await mkdtemp(join(tmpdir(), "tessellate-ipfs-gateway-"));
  node = await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0 });
  client = create({ url: node.apiUrl });
  frame = (await client.add(PNG, { cidVersion: 1 })).cid.toString();
  let root = "";
  for await (const entry of client.addAll(
    [
      { path: "site/index.html", content: new TextEncoder().encode("<!doctype html><title>dApp</title>") },
      { path: "results/frame 0001.png", content: PNG },
      { path: "results/manifest.json", content: new TextEncoder().encode('{"frames":[1]}') },
      { path: "results/notes", content: new TextEncoder().encode("plain words\n") },
    ],
    { cidVersion: 1, wrapWithDirectory: true },
  )) {
    root = entry.cid.toString();
  }
  site = root;
});

after(async () => {
  await node.stop();
  await rm(repoDir, { recursive: true, force: true });
});

const get = (path: string, init?: RequestInit): Promise<Response> => fetch(`${node.gatewayUrl}${path}`, { redirect: "manual", ...init });

test("serves a PNG as image/png, by bare CID and by file name", async () => {
  for (const path of [`/ipfs/${frame}`, `/ipfs/${site}/results/frame%200001.png`]) {
    const response = await get(path);
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get("content-type"), "image/png");
    assert.equal(response.headers.get("content-length"), String(PNG.byteLength));
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), PNG);
  }
});

test("names the type of JSON and text, from the name or from the bytes", async () => {
  const json = await get(`/ipfs/${site}/results/manifest.json`);
  assert.match(json.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await json.json(), { frames: [1] });
  const notes = await get(`/ipfs/${site}/results/notes`);
  assert.equal(notes.headers.get("content-type"), "text/plain; charset=utf-8");
  const binary = (await client.add(Uint8Array.of(0, 1, 2, 3, 255), { cidVersion: 1 })).cid.toString();
  assert.equal((await get(`/ipfs/${binary}`)).headers.get("content-type"), "application/octet-stream");
});

test("answers byte ranges with 206, and an unsatisfiable one with 416", async () => {
  const partial = await get(`/ipfs/${frame}`, { headers: { Range: "bytes=1-3" } });
  assert.equal(partial.status, 206);
  assert.equal(partial.headers.get("content-range"), `bytes 1-3/${PNG.byteLength}`);
  assert.equal(Buffer.from(await partial.arrayBuffer()).toString("latin1"), "PNG");
  const tail = await get(`/ipfs/${frame}`, { headers: { Range: "bytes=-4" } });
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), PNG.subarray(-4));
  const beyond = await get(`/ipfs/${frame}`, { headers: { Range: "bytes=9999-" } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), `bytes */${PNG.byteLength}`);
});

test("redirects a folder to its slash form, then serves index.html or a listing", async () => {
  const redirect = await get(`/ipfs/${site}/site`);
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), `/ipfs/${site}/site/`);
  const index = await get(`/ipfs/${site}/site/`);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await index.text(), "<!doctype html><title>dApp</title>");
  const listing = await get(`/ipfs/${site}/results/`);
  assert.equal(listing.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await listing.text();
  assert.match(html, /href="\/ipfs\/[^"]+\/results\/frame%200001\.png">frame 0001\.png</);
  assert.match(html, /manifest\.json/);
});

test("caches by CID, answers HEAD, and returns the raw block on request", async () => {
  const first = await get(`/ipfs/${frame}`);
  assert.equal(first.headers.get("etag"), `"${frame}"`);
  assert.match(first.headers.get("cache-control") ?? "", /immutable/);
  const again = await get(`/ipfs/${frame}`, { headers: { "If-None-Match": `"${frame}"` } });
  assert.equal(again.status, 304);
  const head = await get(`/ipfs/${frame}`, { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), String(PNG.byteLength));
  const raw = await get(`/ipfs/${frame}?format=raw`);
  assert.equal(raw.headers.get("content-type"), "application/vnd.ipld.raw");
  assert.deepEqual(Buffer.from(await raw.arrayBuffer()), PNG);
});

test("answers a malformed CID with 400, an unknown one with 404 at once, and writes with 405", async () => {
  const bad = await get("/ipfs/not-a-cid");
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /invalid CID "not-a-cid"/);
  const started = Date.now();
  const unknown = await get("/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy");
  assert.equal(unknown.status, 404);
  assert.ok(Date.now() - started < 1000);
  assert.equal((await get(`/ipfs/${site}/results/missing.png`)).status, 404);
  assert.equal((await get(`/ipfs/${frame}`, { method: "POST" })).status, 405);
});
