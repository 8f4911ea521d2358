import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FatalError, RetryableError } from "../errors.ts";
import { MemoryStorage } from "./memoryStorage.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("MemoryStorage", () => {
  it("gives a small file the CID Kubo gives it with raw leaves (CIDv1, raw, sha256)", async () => {
    const storage = new MemoryStorage();
    // computed independently: "b" + base32(0x01 0x55 0x12 0x20 sha256("hello"))
    assert.equal(await storage.addBytes(bytes("hello")), "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq");
    assert.equal(text(await storage.cat("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq")), "hello");
  });

  it("stores folders with nested paths, deterministic CIDs and sizes", async () => {
    const storage = new MemoryStorage();
    const root = await storage.addEntries({ "a.txt": bytes("A"), "sub/b.txt": bytes("BB"), "sub/deeper/c.txt": bytes("CCC") });
    assert.match(root, /^bafy/);
    assert.equal(await storage.addEntries(new Map([["sub/deeper/c.txt", bytes("CCC")], ["sub/b.txt", bytes("BB")], ["a.txt", bytes("A")]])), root);
    assert.equal(text(await storage.cat(`${root}/sub/deeper/c.txt`)), "CCC");
    assert.equal(text(await storage.cat(`/ipfs/${root}/a.txt`)), "A");
    assert.equal(await storage.size(root), 6);
    assert.equal(await storage.size(`${root}/sub`), 5);
    assert.ok(storage.pinned.has(root));
    assert.equal(storage.stats.cat, 2);
  });

  it("fails like a real node: unknown content is retryable, a bad path or size is not", async () => {
    const storage = new MemoryStorage();
    const root = await storage.addEntries({ "a.txt": bytes("hello") });
    await assert.rejects(storage.cat(`${root}/missing.txt`), (e) => e instanceof FatalError && e.code === "STORAGE_NOT_FOUND");
    await assert.rejects(storage.cat(root), { code: "STORAGE_REJECTED" });
    await assert.rejects(storage.cat(`${root}/a.txt`, { maxBytes: 4 }), { code: "STORAGE_TOO_LARGE" });
    await assert.rejects(storage.cat("not-a-cid/a.txt"), { code: "STORAGE_BAD_CID" });
    storage.forget(root);
    await assert.rejects(storage.cat(`${root}/a.txt`), (e) => e instanceof RetryableError && e.code === "STORAGE_UNAVAILABLE");
    const aborted = AbortSignal.abort();
    await assert.rejects(storage.addBytes(bytes("x"), { signal: aborted }), { name: "AbortError" });
  });

  it("adds a folder from disk and gets it back, and gets single files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tessellate-memstore-"));
    try {
      await mkdir(join(dir, "in", "textures"), { recursive: true });
      await writeFile(join(dir, "in", "scene.json"), "{}");
      await writeFile(join(dir, "in", "textures", "wood.png"), "png");
      const progress: number[] = [];
      const storage = new MemoryStorage();
      const root = await storage.addFolder(join(dir, "in"), { onProgress: (p) => progress.push(p.bytes), pin: false });
      assert.equal(progress.at(-1), 5);
      assert.equal(storage.pinned.has(root), false);
      await storage.get(root, join(dir, "out"));
      assert.equal(await readFile(join(dir, "out", "textures", "wood.png"), "utf8"), "png");
      await storage.get(`${root}/scene.json`, join(dir, "single"));
      assert.equal(await readFile(join(dir, "single", "scene.json"), "utf8"), "{}");
      await assert.rejects(storage.get(root, join(dir, "small"), { maxBytes: 4 }), { code: "STORAGE_TOO_LARGE" });
      await assert.rejects(storage.addFolder(join(dir, "nope")), { code: "STORAGE_BAD_INPUT" });
      const file = await storage.addFile(join(dir, "in", "scene.json"));
      assert.equal(file, await storage.addBytes(bytes("{}")));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("can serve wrong bytes for a path, to test digest checks", async () => {
    const storage = new MemoryStorage();
    const root = await storage.addEntries({ "a.txt": bytes("honest") });
    storage.overwrite(`${root}/a.txt`, bytes("forged"));
    assert.equal(text(await storage.cat(`${root}/a.txt`)), "forged");
    assert.ok(storage.has(`${root}/a.txt`));
    assert.equal(storage.has(`${root}/b.txt`), false);
  });
});
