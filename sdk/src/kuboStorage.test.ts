/**
 * The Kubo RPC storage client against the real Kubo-API-compatible service: the devnet's embedded
 * IPFS node, started here on a temporary repo.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer, type Server } from "node:net";
import { mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "kubo-rpc-client";
import { CID } from "multiformats/cid";
import { startIpfsNode, type IpfsNode } from "../../ipfs-node/src/index.ts";
import { FatalError, RetryableError } from "./errors.ts";
import { createKuboStorage } from "./kuboStorage.ts";
import type { Storage } from "./storage.ts";

const MAX_UPLOAD = 3 * 1024 * 1024;

let node: IpfsNode;
let storage: Storage;
let workDir: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), "tessellate-kubo-storage-"));
  node = await startIpfsNode({ repoDir: join(workDir, "repo"), apiPort: 0, gatewayPort: 0, maxUploadBytes: MAX_UPLOAD });
  storage = createKuboStorage({ url: node.apiUrl, timeoutMs: 10_000 });
});

after(async () => {
  await node.stop();
  await rm(workDir, { recursive: true, force: true });
});

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** CIDv1 of a raw block: what a single-chunk file with raw leaves must get. */
function rawCid(bytes: Uint8Array): string {
  const digest = createHash("sha256").update(bytes).digest();
  return CID.decode(Uint8Array.from([0x01, 0x55, 0x12, 0x20, ...digest])).toString();
}

function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 13 + (index >> 8)) % 256);
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  assert.fail("expected a rejection");
}

test("addBytes stores CIDv1 with raw leaves, reports progress, and cat reads it back", async () => {
  const small = text("hello tessellate");
  assert.equal(await storage.addBytes(small), rawCid(small));

  const large = pattern(700_000);
  const progress: number[] = [];
  const cid = await storage.addBytes(large, { onProgress: ({ bytes }) => progress.push(bytes) });
  assert.match(cid, /^bafybei/, "a multi-chunk file is a dag-pb root");
  assert.equal(progress.at(-1), 700_000);
  assert.ok(progress.length >= 3);
  assert.deepEqual(await storage.cat(cid), large);
  assert.deepEqual(await storage.cat(`/ipfs/${cid}`, { maxBytes: 700_000 }), large);
  assert.equal(await storage.size(cid), 700_000);
});

test("addFile gives the same CID as addBytes of the same content", async () => {
  const content = pattern(300_000);
  const file = join(workDir, "frame.bin");
  await writeFile(file, content);
  assert.equal(await storage.addFile(file), await storage.addBytes(content));
  const missing = await rejection(storage.addFile(join(workDir, "nope.bin")));
  assert.ok(missing instanceof FatalError);
  assert.equal(missing.code, "STORAGE_BAD_INPUT");
});

test("addFolder makes the folder the root; cat, get and size work on it", async () => {
  const scene = join(workDir, "scene");
  await mkdir(join(scene, "textures", "wood"), { recursive: true });
  await mkdir(join(scene, "empty"));
  await writeFile(join(scene, "scene.json"), '{"frames":24}');
  await writeFile(join(scene, "textures", "wood", "oak.png"), pattern(5_000));
  await writeFile(join(scene, "big.bin"), pattern(400_000));
  await symlink(join(scene, "scene.json"), join(scene, "link.json"));

  const seen: string[] = [];
  const root = await storage.addFolder(scene, { onProgress: ({ path }) => path !== undefined && seen.push(path) });
  assert.match(root, /^bafybei/);
  assert.ok(seen.includes("scene/big.bin"), seen.join(", "));
  assert.equal(new TextDecoder().decode(await storage.cat(`${root}/scene.json`)), '{"frames":24}');
  assert.equal(new TextDecoder().decode(await storage.cat(`${root}/link.json`)), '{"frames":24}');
  assert.equal(await storage.size(root), 13 + 13 + 5_000 + 400_000);

  const copy = join(workDir, "copy");
  await storage.get(root, copy);
  assert.deepEqual((await readdir(copy)).sort(), ["big.bin", "empty", "link.json", "scene.json", "textures"]);
  assert.deepEqual(await readdir(join(copy, "empty")), []);
  assert.deepEqual(new Uint8Array(await readFile(join(copy, "textures", "wood", "oak.png"))), pattern(5_000));
  assert.deepEqual(new Uint8Array(await readFile(join(copy, "big.bin"))), pattern(400_000));

  const single = join(workDir, "single");
  await storage.get(`${root}/textures/wood/oak.png`, single);
  assert.deepEqual(await readdir(single), ["oak.png"]);

  const empty = join(workDir, "nothing-inside");
  await mkdir(empty);
  const emptyRoot = await storage.addFolder(empty);
  assert.equal(await storage.size(emptyRoot), 0);
});

test("addFolder with onlyHash gives the CID a real add gives and stores nothing (sealed results: a provider reveals it before publishing)", async () => {
  const result = join(workDir, "sealed-result");
  await mkdir(result);
  await writeFile(join(result, "frame-000001.png"), pattern(70_000));
  const cid = await storage.addFolder(result, { onlyHash: true });
  const fileMissing = await rejection(storage.cat(`${cid}/frame-000001.png`));
  assert.equal((fileMissing as { code?: string }).code, "STORAGE_NOT_FOUND", "nothing readable before the folder is added");
  assert.equal(await storage.addFolder(result), cid, "publishing later gives the revealed CID");
  assert.deepEqual(await storage.cat(`${cid}/frame-000001.png`), pattern(70_000));
});

test("refuses content over maxBytes with STORAGE_TOO_LARGE", async () => {
  const cid = await storage.addBytes(pattern(50_000));
  const cat = await rejection(storage.cat(cid, { maxBytes: 49_999 }));
  assert.ok(cat instanceof FatalError);
  assert.equal(cat.code, "STORAGE_TOO_LARGE");
  const dir = join(workDir, "limited");
  const get = await rejection(storage.get(cid, dir, { maxBytes: 10_000 }));
  assert.equal(get.code, "STORAGE_TOO_LARGE");
  assert.deepEqual(await readdir(dir), [], "no partial file is left behind");
  const upload = await rejection(storage.addBytes(new Uint8Array(MAX_UPLOAD + 1)));
  assert.ok(upload instanceof FatalError);
  assert.equal(upload.code, "STORAGE_TOO_LARGE");
});

test("types failures: bad CID, unknown CID, unreachable or silent node", async () => {
  const bad = await rejection(storage.cat("not-a-cid"));
  assert.ok(bad instanceof FatalError);
  assert.equal(bad.code, "STORAGE_BAD_CID");

  const unknown = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
  for (const attempt of [() => storage.cat(unknown), () => storage.size(unknown), () => storage.get(unknown, join(workDir, "x")), () => storage.pin(unknown)]) {
    const missing = await rejection(attempt());
    assert.ok(missing instanceof FatalError, String(missing));
    assert.equal(missing.code, "STORAGE_NOT_FOUND");
  }

  const closed = createKuboStorage({ url: "http://127.0.0.1:9", timeoutMs: 2_000 });
  const unreachable = await rejection(closed.addBytes(text("x")));
  assert.ok(unreachable instanceof RetryableError, String(unreachable));
  assert.equal(unreachable.code, "STORAGE_UNAVAILABLE");

  // A server that accepts connections and never answers.
  const silent: Server = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = silent.address() as { port: number };
    const started = Date.now();
    const timedOut = await rejection(createKuboStorage({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 }).cat(unknown));
    assert.ok(timedOut instanceof RetryableError);
    assert.equal(timedOut.code, "STORAGE_UNAVAILABLE");
    assert.match(timedOut.message, /300 ms without answering/);
    assert.ok(Date.now() - started < 3_000);
  } finally {
    silent.close();
  }
});

test("pins on add by default, not when asked not to, and pin() pins", async () => {
  const client = create({ url: node.apiUrl });
  const isPinned = async (cid: string): Promise<boolean> => {
    try {
      for await (const _ of client.pin.ls({ paths: [CID.parse(cid)] })) return true;
    } catch {
      return false;
    }
    return false;
  };
  const pinned = await storage.addBytes(text("kept"));
  assert.equal(await isPinned(pinned), true);
  const loose = await storage.addBytes(text("not kept"), { pin: false });
  assert.equal(await isPinned(loose), false);
  await storage.pin(loose);
  assert.equal(await isPinned(loose), true);
});

test("a caller's abort rejects with the abort, not a storage error", async () => {
  const controller = new AbortController();
  controller.abort();
  const aborted = await rejection(storage.addBytes(text("never"), { signal: controller.signal }));
  assert.equal(aborted.name, "AbortError");
});

test("addFolder refuses links that leave the folder, naming the link and its target", async () => {
  const base = join(workDir, "links");
  const scene = join(base, "scene");
  await mkdir(join(scene, "textures"), { recursive: true });
  await writeFile(join(scene, "scene.pov"), "sphere { 0, 1 }");
  await writeFile(join(base, "outside.txt"), "a file next to the scene, not in it");

  await symlink("/etc/passwd", join(scene, "textures", "passwd.png"));
  const absolute = await rejection(storage.addFolder(scene));
  assert.ok(absolute instanceof FatalError, String(absolute));
  assert.equal(absolute.code, "STORAGE_BAD_INPUT");
  assert.match(absolute.message, /the link textures\/passwd\.png points to \/etc\/passwd, which is outside the folder/);
  await rm(join(scene, "textures", "passwd.png"));

  await symlink("../outside.txt", join(scene, "outside.txt"));
  const climbing = await rejection(storage.addFolder(scene));
  assert.equal(climbing.code, "STORAGE_BAD_INPUT");
  assert.match(climbing.message, /the link outside\.txt points to \.\.\/outside\.txt, which is outside the folder/);
  await rm(join(scene, "outside.txt"));

  // A link to a link that leaves the folder is refused too; a dangling one and one to a folder as well.
  await symlink("/etc/passwd", join(base, "hop"));
  await symlink("../hop", join(scene, "hop.txt"));
  assert.match((await rejection(storage.addFolder(scene))).message, /the link hop\.txt points to \.\.\/hop, which is outside the folder \(\/etc\/passwd\)/);
  await rm(join(scene, "hop.txt"));
  await symlink("missing.txt", join(scene, "dangling.txt"));
  assert.match((await rejection(storage.addFolder(scene))).message, /the link dangling\.txt points to missing\.txt, which does not exist/);
  await rm(join(scene, "dangling.txt"));
  await symlink("textures", join(scene, "again"));
  assert.match((await rejection(storage.addFolder(scene))).message, /the link again points to textures, which is not a file/);
  await rm(join(scene, "again"));

  // A link that stays inside is added as the file it points to.
  await symlink("scene.pov", join(scene, "copy.pov"));
  const root = await storage.addFolder(scene);
  assert.equal(new TextDecoder().decode(await storage.cat(`${root}/copy.pov`)), "sphere { 0, 1 }");
});

/** A stand-in for a node, for behaviour the real one does not show on demand: it answers add as `respond` says. */
async function fakeNode(respond: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    // Read the whole upload first: the stall under test is the node's answer, not the upload.
    req.resume();
    req.on("end", () => respond(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test("an add times out on a lack of progress, not on a long pin that reports progress", async () => {
  const line = (value: unknown): string => `${JSON.stringify(value)}\n`;
  const cid = rawCid(text("slow"));
  // Pins for 2.4 s, four times the deadline, reporting a block every 200 ms.
  const slow = await fakeNode((req, res) => {
    const progress = new URL(req.url!, "http://x").searchParams.get("progress") === "true";
    res.writeHead(200, { "Content-Type": "application/json", "X-Chunked-Output": "1" });
    let pinned = 0;
    const timer = setInterval(() => {
      pinned += 1;
      if (progress) res.write(line({ Name: "", Bytes: 4, Pinned: pinned }));
      if (pinned === 12) {
        clearInterval(timer);
        res.end(line({ Name: cid, Hash: cid, Size: "4" }));
      }
    }, 200);
  });
  // Reports one line, then nothing.
  const stalled = await fakeNode((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json", "X-Chunked-Output": "1" });
    res.write(line({ Name: "", Bytes: 4 }));
  });
  try {
    const stages: string[] = [];
    const added = await createKuboStorage({ url: slow.url, timeoutMs: 600 }).addBytes(text("slow"), { onProgress: ({ stage }) => stage !== undefined && stages.push(stage) });
    assert.equal(added, cid);
    assert.ok(stages.includes("pinning"), stages.join(", "));

    const started = Date.now();
    const timedOut = await rejection(createKuboStorage({ url: stalled.url, timeoutMs: 600 }).addBytes(text("stalls")));
    assert.ok(timedOut instanceof RetryableError, String(timedOut));
    assert.equal(timedOut.code, "STORAGE_UNAVAILABLE");
    assert.match(timedOut.message, /made no progress for 600 ms \(nothing sent, nothing reported stored or pinned\); retry/);
    assert.ok(Date.now() - started < 5_000);
  } finally {
    await slow.close();
    await stalled.close();
  }
});

test("a file of a few hundred MB goes through the real node with progress while storing and pinning", { timeout: 600_000 }, async () => {
  const size = 320 * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), "tessellate-large-upload-"));
  const big = await startIpfsNode({ repoDir: join(dir, "repo"), apiPort: 0, gatewayPort: 0 });
  try {
    const file = join(dir, "scene.bin");
    const handle = await open(file, "w");
    for (let written = 0; written < size; written += 1024 * 1024) await handle.write(randomBytes(1024 * 1024));
    await handle.close();

    const seen: { bytes: number; stage?: string; pinnedBlocks?: number }[] = [];
    // A deadline far below the time the whole add takes: only progress keeps it alive.
    const large = createKuboStorage({ url: big.apiUrl, timeoutMs: 15_000 });
    const started = Date.now();
    const cid = await large.addFile(file, { onProgress: (progress) => seen.push(progress) });
    const tookMs = Date.now() - started;
    const storing = seen.filter((progress) => progress.stage === "storing");
    const pinning = seen.filter((progress) => progress.stage === "pinning");
    assert.equal(storing.at(-1)?.bytes, size);
    assert.ok(storing.every((progress, index) => index === 0 || progress.bytes >= storing[index - 1]!.bytes), "stored bytes never go back");
    assert.ok(storing.length > 100, `${storing.length} progress reports while storing`);
    // The pin walks every block (1280 leaves and their parents); it reports as it goes when it lasts.
    assert.ok(pinning.every((progress) => progress.bytes === size && (progress.pinnedBlocks ?? 0) > 0));
    assert.equal(await large.size(cid), size, `added in ${tookMs} ms`);
  } finally {
    await big.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
