/**
 * The RPC API driven by `kubo-rpc-client` itself, as Tessellate's storage client and a dApp use it.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, type KuboRPCClient } from "kubo-rpc-client";
import { startIpfsNode, type IpfsNode } from "./index.ts";

const MAX_UPLOAD = 2 * 1024 * 1024;
const DAPP_ORIGIN = "http://dapp.localhost:5173";

let node: IpfsNode;
let client: KuboRPCClient;
let repoDir: string;

before(async () => {
  repoDir = await mkdtemp(join(tmpdir(), "tessellate-ipfs-rpc-"));
  node = await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0, maxUploadBytes: MAX_UPLOAD, corsOrigins: [DAPP_ORIGIN] });
  client = create({ url: node.apiUrl });
});

after(async () => {
  await node.stop();
  await rm(repoDir, { recursive: true, force: true });
});

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

async function blockFiles(): Promise<string[]> {
  const entries = await readdir(join(repoDir, "blocks"), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

async function catText(path: string, options: { offset?: number; length?: number } = {}): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of client.cat(path, options)) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function httpStatus(promise: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { status: (error as { response?: Response }).response?.status, message: (error as Error).message };
  }
  assert.fail("expected the request to fail");
}

test("adds bytes and cats them back, whole or a window", async () => {
  const added = await client.add(text("The quick brown fox jumps over the lazy dog"), { cidVersion: 1 });
  assert.match(added.cid.toString(), /^bafkrei/);
  assert.equal(added.size, 43);
  assert.equal(await catText(added.cid.toString()), "The quick brown fox jumps over the lazy dog");
  assert.equal(await catText(`/ipfs/${added.cid}`, { offset: 4, length: 5 }), "quick");
  assert.equal(await catText(added.cid.toString(), { offset: 40 }), "dog");
  assert.equal(await catText(added.cid.toString(), { offset: 400 }), "");
});

test("adds a folder, then serves its files by cid/path through cat, ls, files/stat and get", async () => {
  const entries = [];
  for await (const entry of client.addAll(
    [
      { path: "scene/scene.json", content: text('{"frames":2}') },
      { path: "scene/textures/wood.txt", content: text("wood grain") },
      { path: "scene/empty" },
    ],
    { cidVersion: 1, wrapWithDirectory: true },
  )) {
    entries.push(entry);
  }
  assert.deepEqual(
    entries.map((entry) => entry.path),
    ["scene/scene.json", "scene/textures/wood.txt", "scene/empty", "scene/textures", "scene", ""],
  );
  const root = entries.at(-1)!.cid.toString();
  assert.equal(await catText(`${root}/scene/textures/wood.txt`), "wood grain");
  assert.equal(await catText(`/ipfs/${root}/scene/scene.json`), '{"frames":2}');

  const listing = [];
  for await (const entry of client.ls(`${root}/scene`)) listing.push([entry.name, entry.type, entry.size]);
  assert.deepEqual(listing, [["empty", "dir", 0], ["scene.json", "file", 12], ["textures", "dir", 0]]);

  const fileStat = await client.files.stat(`/ipfs/${root}/scene/scene.json`);
  assert.equal(fileStat.type, "file");
  assert.equal(fileStat.size, 12);
  const dirStat = await client.files.stat(`/ipfs/${root}/scene`);
  assert.equal(dirStat.type, "directory");
  assert.ok(dirStat.cumulativeSize > 22);

  const tar = Buffer.concat(await all(client.get(`${root}/scene`)));
  assert.deepEqual(readTar(tar), [
    ["scene/", "5", ""],
    ["scene/empty/", "5", ""],
    ["scene/scene.json", "0", '{"frames":2}'],
    ["scene/textures/", "5", ""],
    ["scene/textures/wood.txt", "0", "wood grain"],
  ]);

  await assert.rejects(catText(`${root}/scene`), /this dag node is a directory/);
  const missing = await httpStatus(catText(`${root}/scene/nope.txt`));
  assert.equal(missing.status, 404);
  assert.match(missing.message, /no link named "scene\/nope.txt"/);
});

test("pins on add by default, pins on request, and lists pins as Kubo does", async () => {
  const unpinned = await client.add(text("pin me later"), { cidVersion: 1, pin: false });
  const notPinned = await httpStatus(all(client.pin.ls({ paths: [unpinned.cid] })));
  assert.match(notPinned.message, /is not pinned/);
  assert.equal((await client.pin.add(unpinned.cid)).toString(), unpinned.cid.toString());
  assert.equal((await client.pin.add(unpinned.cid)).toString(), unpinned.cid.toString(), "pinning twice is fine");
  const listed = await all(client.pin.ls({ paths: [unpinned.cid] }));
  assert.deepEqual(listed.map((pin) => [pin.cid.toString(), pin.type]), [[unpinned.cid.toString(), "recursive"]]);

  const legacy = await client.add(text("a CIDv0 pin"));
  assert.match(legacy.cid.toString(), /^Qm/);
  const folder = await all(client.addAll([{ path: "d/x.txt", content: text("x") }], { cidVersion: 1 }));
  const everyPin = await all(client.pin.ls());
  const types = new Map(everyPin.map((pin) => [pin.cid.toString(), pin.type]));
  assert.equal(types.get(legacy.cid.toString()), "recursive", "a CIDv0 pin is listed as CIDv0");
  assert.equal(types.get(folder.at(-1)!.cid.toString()), "recursive");
  assert.equal(types.get(folder[0]!.cid.toString()), "indirect");
  const recursiveOnly = await all(client.pin.ls({ type: "recursive" }));
  assert.ok(recursiveOnly.every((pin) => pin.type === "recursive"));
});

test("refuses to pin a DAG with a block missing here, and keeps serving", async () => {
  const before = new Set(await blockFiles());
  const leaf = await client.add(text("a leaf that will vanish"), { cidVersion: 1, pin: false });
  const leafFiles = (await blockFiles()).filter((file) => !before.has(file));
  assert.equal(leafFiles.length, 1);
  const folder = await all(client.addAll([{ path: "holder/leaf.txt", content: text("a leaf that will vanish") }], { cidVersion: 1, pin: false }));
  await rm(leafFiles[0]!);
  const refused = await httpStatus(client.pin.add(folder.at(-1)!.cid));
  assert.equal(refused.status, 404);
  assert.match(refused.message, new RegExp(`block ${leaf.cid} was not found locally`));
  assert.equal((await client.version()).version.length > 0, true, "the node is still up");
});

test("reports version and identity", async () => {
  const version = await client.version();
  assert.equal(typeof version.version, "string");
  const identity = await client.id();
  assert.match(identity.id.toString(), /^12D3KooW/);
  assert.deepEqual(identity.addresses, []);
  assert.match(identity.agentVersion, /tessellate-ipfs-node/);
});

test("streams progress lines when asked, and only hashes when asked", async () => {
  const seen: number[] = [];
  const bytes = new Uint8Array(700_000).fill(7);
  const added = await client.add(bytes, { cidVersion: 1, progress: (sent) => seen.push(sent) });
  assert.ok(seen.length >= 2, `progress lines: ${seen.join(", ")}`);
  assert.equal(seen.at(-1), 700_000);

  const hashed = await client.add(text("never stored"), { cidVersion: 1, onlyHash: true });
  assert.equal((await client.add(text("never stored"), { cidVersion: 1, onlyHash: true })).cid.toString(), hashed.cid.toString());
  assert.equal((await httpStatus(catText(hashed.cid.toString()))).status, 404);
});

test("refuses an upload over the limit with 413 and a message that says so", async () => {
  const tooBig = new Uint8Array(MAX_UPLOAD + 1024);
  const refused = await httpStatus(client.add(tooBig));
  assert.equal(refused.status, 413);
  assert.match(refused.message, /upload too large: this node accepts at most 2097152 bytes/);
  // The connection is still usable afterwards.
  assert.equal((await client.add(text("after a refusal"), { cidVersion: 1 })).size, 15);

  async function* slowly(): AsyncGenerator<Uint8Array> {
    for (let piece = 0; piece < 48; piece += 1) yield new Uint8Array(64 * 1024);
  }
  // With progress the answer has started streaming when the limit is crossed: it still fails.
  await assert.rejects(client.add(slowly(), { progress: () => {} }));
  const streamed = await httpStatus(client.add(slowly()));
  assert.equal(streamed.status, 413);
});

test("answers a malformed CID with 400 naming it, and an unknown one with 404 at once", async () => {
  for (const request of [() => catText("not-a-cid"), () => all(client.ls("/ipfs/bafynotacid")), () => client.pin.add("Qm123")]) {
    const refused = await httpStatus(request());
    assert.equal(refused.status, 400);
    assert.match(refused.message, /invalid path "(not-a-cid|\/ipfs\/bafynotacid|Qm123)"/);
  }
  const unknown = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
  const started = Date.now();
  for (const request of [
    () => catText(unknown),
    () => all(client.ls(unknown)),
    () => all(client.get(unknown)),
    () => client.files.stat(`/ipfs/${unknown}`),
    () => client.pin.add(unknown),
  ]) {
    const refused = await httpStatus(request());
    assert.equal(refused.status, 404);
    assert.match(refused.message, new RegExp(`not found locally \\(offline\\).*${unknown}`));
  }
  assert.ok(Date.now() - started < 2000, "no network lookup");
});

test("lets the configured browser origins in, and only them", async () => {
  const preflight = await fetch(`${node.apiUrl}/api/v0/add`, {
    method: "OPTIONS",
    headers: { Origin: DAPP_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), DAPP_ORIGIN);
  assert.equal(preflight.headers.get("access-control-allow-headers"), "content-type");

  const allowed = await fetch(`${node.apiUrl}/api/v0/version`, { method: "POST", headers: { Origin: DAPP_ORIGIN } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get("access-control-allow-origin"), DAPP_ORIGIN);

  const other = await fetch(`${node.apiUrl}/api/v0/version`, { method: "POST", headers: { Origin: "http://evil.example" } });
  assert.equal(other.status, 403);
  assert.match(((await other.json()) as { Message: string }).Message, /origin http:\/\/evil.example is not allowed/);
});

test("answers unknown commands and non-POST requests in Kubo's error format", async () => {
  const unknown = await fetch(`${node.apiUrl}/api/v0/swarm/peers`, { method: "POST" });
  assert.equal(unknown.status, 404);
  assert.deepEqual(Object.keys((await unknown.json()) as object), ["Message", "Code", "Type"]);
  const get = await fetch(`${node.apiUrl}/api/v0/version`);
  assert.equal(get.status, 405);
  const notMultipart = await fetch(`${node.apiUrl}/api/v0/add`, { method: "POST", body: "plain" });
  assert.equal(notMultipart.status, 400);
});

test("keeps its content and pins across a restart on the same repo", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-ipfs-restart-"));
  try {
    const first = await startIpfsNode({ repoDir: dir, apiPort: 0, gatewayPort: 0 });
    const firstClient = create({ url: first.apiUrl });
    const added = await firstClient.add(new Uint8Array(300_000).fill(3), { cidVersion: 1 });
    await assert.rejects(startIpfsNode({ repoDir: dir, apiPort: 0, gatewayPort: 0 }), /is in use by process/);
    await first.stop();

    const second = await startIpfsNode({ repoDir: dir, apiPort: 0, gatewayPort: 0 });
    try {
      assert.equal(second.peerId, first.peerId);
      const secondClient = create({ url: second.apiUrl });
      const bytes = Buffer.concat(await all(secondClient.cat(added.cid)));
      assert.equal(bytes.byteLength, 300_000);
      assert.ok(bytes.every((byte) => byte === 3));
      const pins = await all(secondClient.pin.ls({ paths: [added.cid] }));
      assert.equal(pins[0]?.type, "recursive");
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** [name, typeflag, content] of each entry of an uncompressed tar (ustar + PAX path records). */
function readTar(tar: Buffer): [string, string, string][] {
  const entries: [string, string, string][] = [];
  let paxPath: string | undefined;
  for (let offset = 0; offset + 512 <= tar.byteLength; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const name = header.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    const size = Number.parseInt(header.subarray(124, 136).toString("ascii").replace(/\0.*$/s, "").trim() || "0", 8);
    const type = String.fromCharCode(header[156]!);
    const content = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      paxPath = /\d+ path=(.*)\n/.exec(content.toString("utf8"))?.[1];
      continue;
    }
    entries.push([paxPath ?? name, type, content.toString("utf8")]);
    paxPath = undefined;
  }
  return entries;
}
