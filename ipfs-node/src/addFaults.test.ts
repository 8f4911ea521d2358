/**
 * `add` under faults, on the real node and its on-disk repo: a client that goes away while the
 * node pins, an upload over the limit, an upload cut half-way. The node must stay up, keep
 * serving, and not keep the blocks of an add that did not complete.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "kubo-rpc-client";
import { startIpfsNode, type IpfsNode } from "./index.ts";

const BOUNDARY = "----tessellate-fault-test";
const workDirs: string[] = [];

after(async () => {
  for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
});

async function newNode(maxUploadBytes?: number): Promise<{ node: IpfsNode; repoDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-ipfs-faults-"));
  workDirs.push(dir);
  const repoDir = join(dir, "repo");
  return { node: await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0, maxUploadBytes }), repoDir };
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

async function blockFiles(repoDir: string): Promise<number> {
  const entries = await readdir(join(repoDir, "blocks"), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).length;
}

function partHead(path: string): string {
  return `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(path)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
}

/** Starts a chunked multipart `add`; the caller writes the body. Lines of the answer go to `onLine`. */
function startAdd(node: IpfsNode, query: string, onLine: (line: Record<string, unknown>) => void): { req: ClientRequest; response: Promise<IncomingMessage>; ended: Promise<void> } {
  const req = request(new URL(`${node.apiUrl}/api/v0/add?${query}`), { method: "POST", headers: { "Content-Type": `multipart/form-data; boundary=${BOUNDARY}` } });
  let endResponse!: () => void;
  const ended = new Promise<void>((resolve) => (endResponse = resolve));
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on("response", (res) => {
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        buffered += text;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) if (line.trim() !== "") onLine(JSON.parse(line) as Record<string, unknown>);
      });
      res.on("end", endResponse);
      res.on("error", endResponse);
      res.on("close", endResponse);
      resolve(res);
    });
    req.on("error", (error) => {
      endResponse();
      reject(error);
    });
  });
  response.catch(() => undefined);
  return { req, response, ended };
}

async function write(req: ClientRequest, chunk: string | Uint8Array): Promise<boolean> {
  if (req.destroyed) return false;
  if (!req.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        req.off("drain", done);
        req.off("close", done);
        resolve();
      };
      req.on("drain", done);
      req.on("close", done);
    });
  }
  return !req.destroyed;
}

test("a client that goes away while the node pins its add leaves the node up, serving, and without that add", async () => {
  const { node, repoDir } = await newNode();
  const client = create({ url: node.apiUrl });
  const blocksBefore = await blockFiles(repoDir);

  // Many small files make many blocks, so the pin walk is long enough to be cut in the middle.
  let rootLine: Record<string, unknown> | undefined;
  const add = startAdd(node, "cid-version=1&wrap-with-directory=true&progress=true", (line) => {
    // The wrapping directory's line comes last, right before the node starts pinning: cut there.
    if (line.Hash !== undefined && line.Name === "" && rootLine === undefined) {
      rootLine = line;
      add.req.destroy();
    }
  });
  for (let file = 0; file < 600; file += 1) {
    if (!(await write(add.req, partHead(`scene/f${file}.bin`)))) break;
    await write(add.req, randomBytes(512));
    await write(add.req, "\r\n");
  }
  await write(add.req, `--${BOUNDARY}--\r\n`);
  add.req.end();
  await add.ended;
  assert.ok(rootLine !== undefined, "the node reported the root before pinning");

  // The node answers while it finishes (and undoes) the cut add's pin.
  assert.match((await client.version()).version, /\d/);
  const kept = await client.add(new TextEncoder().encode("added after the cut"), { cidVersion: 1 });
  assert.equal(Buffer.concat(await all(client.cat(kept.cid))).toString(), "added after the cut");

  // stop() lets the cut add end first; its blocks are gone, the later add's one block stays.
  await node.stop();
  assert.equal(await blockFiles(repoDir), blocksBefore + 1);
  const again = await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0 });
  try {
    const pins = await all(create({ url: again.apiUrl }).pin.ls());
    assert.deepEqual(pins.map((pin) => pin.cid.toString()), [kept.cid.toString()], "only the completed add is pinned");
  } finally {
    await again.stop();
  }
});

test("an upload over the limit is refused as it crosses it, and an upload cut half-way leaves no blocks", async () => {
  const limit = 4 * 1024 * 1024;
  const { node, repoDir } = await newNode(limit);
  const blocksBefore = await blockFiles(repoDir);

  for (const progress of [false, true]) {
    // An endless body: only the limit can end it.
    const lines: Record<string, unknown>[] = [];
    let sent = 0;
    let refusedAt: number | undefined;
    const add = startAdd(node, `cid-version=1&progress=${progress}`, (line) => {
      lines.push(line);
      if (line.Type === "error") refusedAt ??= sent;
    });
    void add.response.then(
      (res) => {
        if (res.statusCode !== 200) refusedAt ??= sent;
      },
      () => (refusedAt ??= sent),
    );
    await write(add.req, partHead("endless.bin"));
    while (refusedAt === undefined && !add.req.destroyed) {
      const chunk = randomBytes(64 * 1024);
      if (!(await write(add.req, chunk))) break;
      sent += chunk.byteLength;
      assert.ok(sent < 256 * 1024 * 1024, "the node is still reading an upload far over its limit");
    }
    refusedAt ??= sent;
    add.req.destroy();
    await add.ended;
    // The refusal comes once the limit is crossed; what is in the sockets' buffers by then is all that went over.
    assert.ok(refusedAt < limit + 32 * 1024 * 1024, `refused after ${refusedAt} bytes of a ${limit}-byte limit`);
    const response = await add.response.catch(() => undefined);
    if (!progress) assert.equal(response?.statusCode, 413);
    else assert.match(String(lines.at(-1)?.Message), /upload too large: this node accepts at most 4194304 bytes/);
    assert.equal(await blockFiles(repoDir), blocksBefore, `no block of the refused upload is left (progress=${progress})`);
  }

  // Cut by the client half-way, once the node has stored part of it.
  let cut!: () => void;
  const wasCut = new Promise<void>((resolve) => (cut = resolve));
  const add = startAdd(node, "cid-version=1&progress=true", (line) => {
    if (typeof line.Bytes === "number" && line.Bytes >= 1024 * 1024) {
      add.req.destroy();
      cut();
    }
  });
  await write(add.req, partHead("cut.bin"));
  // 3 MiB of a body that never ends: the node reports storing its first MiB, and the client cuts.
  for (let piece = 0; piece < 48 && !add.req.destroyed; piece += 1) await write(add.req, randomBytes(64 * 1024));
  await wasCut;
  await add.ended;
  await node.stop();
  assert.equal(await blockFiles(repoDir), blocksBefore, "no block of the cut upload is left");
});

test("a failed add does not take the blocks that a concurrent add of the same content stored", async () => {
  const limit = 4 * 1024 * 1024;
  const { node, repoDir } = await newNode(limit);
  const client = create({ url: node.apiUrl });
  const shared = randomBytes(1024 * 1024);

  // The first add sends the shared file, then a second file that will cross the limit.
  let storedShared!: () => void;
  const sharedStored = new Promise<void>((resolve) => (storedShared = resolve));
  const lines: Record<string, unknown>[] = [];
  const failing = startAdd(node, "cid-version=1&progress=true", (line) => {
    lines.push(line);
    if (line.Name === "shared.bin" && line.Hash !== undefined) storedShared();
  });
  await write(failing.req, partHead("shared.bin"));
  await write(failing.req, shared);
  await write(failing.req, `\r\n${partHead("tail.bin")}`);
  await write(failing.req, randomBytes(64 * 1024));
  await sharedStored;

  // Meanwhile another add of the same bytes completes, unpinned (a pin would protect the blocks by itself).
  const kept = await client.add(shared, { cidVersion: 1, pin: false });
  const blocksWithBoth = await blockFiles(repoDir);

  // Now the first one crosses the limit and fails.
  while (!lines.some((line) => line.Type === "error") && !failing.req.destroyed) {
    if (!(await write(failing.req, randomBytes(64 * 1024)))) break;
  }
  failing.req.destroy();
  await failing.ended;
  assert.ok(lines.some((line) => line.Type === "error" && line.Status === 413), "the first add was refused");
  await node.stop();

  // Only the tail's blocks went; the shared file is whole.
  assert.ok((await blockFiles(repoDir)) <= blocksWithBoth);
  const again = await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0 });
  try {
    assert.deepEqual(Buffer.concat(await all(create({ url: again.apiUrl }).cat(kept.cid))), shared);
  } finally {
    await again.stop();
  }
});
