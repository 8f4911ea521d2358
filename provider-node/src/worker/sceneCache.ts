/**
 * Scenes cached on disk by CID: `<dataDir>/scenes/<cid>/` holds the scene folder exactly as
 * stored on IPFS. A CID names immutable content, so a cached folder never needs refreshing; it
 * is fetched into a temporary folder and renamed into place, so a folder that exists is complete.
 * Two replicas of one scene share one fetch.
 *
 * The cache has a size budget (`limits.sceneCacheBytes`, default 5 GiB): after every fetch, the
 * least recently used scenes that no render is using are deleted until the rest fit. "Used" is
 * the folder's modification time, touched on every {@link SceneCache.ensure}, so the order
 * survives restarts. A scene in use is never deleted, even when it alone exceeds the budget.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Storage } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import type { Logger } from "../ports.ts";

export class SceneCache {
  readonly dir: string;
  private readonly storage: Storage;
  private readonly maxBytes: number;
  private readonly log: Logger | undefined;
  private readonly inFlight = new Map<string, Promise<string>>();
  /** Renders using each scene. */
  private readonly users = new Map<string, number>();
  /** Sizes of cached scenes, measured once. */
  private readonly sizes = new Map<string, number>();
  private evicting: Promise<void> = Promise.resolve();

  constructor(storage: Storage, dir: string, options: { maxBytes?: number; log?: Logger } = {}) {
    this.storage = storage;
    this.dir = dir;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.log = options.log;
  }

  /** Whether the scene `cid` is cached (complete). */
  has(cid: string): boolean {
    return /^[A-Za-z0-9]+$/.test(cid) && existsSync(join(this.dir, cid));
  }

  /** Marks the scene as in use by a render until the returned function is called. */
  use(cid: string): () => void {
    this.users.set(cid, (this.users.get(cid) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.users.get(cid) ?? 1) - 1;
      if (left > 0) this.users.set(cid, left);
      else this.users.delete(cid);
    };
  }

  /** Folder of the scene `cid`, fetching it when it is not cached. Rejects with storage errors as they come. */
  ensure(cid: string, options: { maxBytes: number; signal?: AbortSignal }): Promise<string> {
    if (!/^[A-Za-z0-9]+$/.test(cid)) return Promise.reject(new FatalError("SCENE_BAD_CID", `scene CID "${cid}" has characters a CID cannot have`));
    const target = join(this.dir, cid);
    if (existsSync(target)) return this.touch(target).then(() => target);
    const running = this.inFlight.get(cid);
    if (running) return running;
    const fetch = this.fetch(cid, target, options).finally(() => this.inFlight.delete(cid));
    this.inFlight.set(cid, fetch);
    return fetch;
  }

  private async fetch(cid: string, target: string, options: { maxBytes: number; signal?: AbortSignal }): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const partial = join(this.dir, `.partial-${cid}-${randomBytes(4).toString("hex")}`);
    try {
      await this.storage.get(cid, partial, { maxBytes: options.maxBytes, signal: options.signal });
      if (!existsSync(partial)) throw new FatalError("SCENE_EMPTY", `scene ${cid} is empty`);
      await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
        if (!existsSync(target)) throw error; // someone else finished first: theirs is as good
      });
      await this.touch(target);
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    await this.evict(cid);
    return target;
  }

  private async touch(path: string): Promise<void> {
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
  }

  /** Deletes least recently used scenes nobody uses (never `keep`) until the cache fits its budget. */
  evict(keep?: string): Promise<void> {
    const run = this.evicting.then(async () => {
      if (!Number.isFinite(this.maxBytes)) return;
      const entries: { cid: string; bytes: number; usedAt: number }[] = [];
      for (const name of await readdir(this.dir).catch(() => [] as string[])) {
        if (name.startsWith(".partial-")) continue;
        const path = join(this.dir, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isDirectory()) continue;
        let bytes = this.sizes.get(name);
        if (bytes === undefined) this.sizes.set(name, (bytes = await folderBytes(path)));
        entries.push({ cid: name, bytes, usedAt: info.mtimeMs });
      }
      let total = entries.reduce((sum, e) => sum + e.bytes, 0);
      for (const entry of entries.sort((a, b) => a.usedAt - b.usedAt)) {
        if (total <= this.maxBytes) break;
        if (entry.cid === keep || this.users.has(entry.cid) || this.inFlight.has(entry.cid)) continue;
        await rm(join(this.dir, entry.cid), { recursive: true, force: true });
        this.sizes.delete(entry.cid);
        total -= entry.bytes;
        this.log?.info({ sceneCid: entry.cid, bytes: entry.bytes, cacheBytes: total, budget: this.maxBytes }, "evicted a scene from the cache (least recently used)");
      }
      if (total > this.maxBytes) this.log?.warn({ cacheBytes: total, budget: this.maxBytes }, "the scenes in use exceed the scene cache budget (limits.sceneCacheBytes)");
    });
    this.evicting = run.catch(() => undefined);
    return run;
  }
}

async function folderBytes(path: string): Promise<number> {
  const info = await lstat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) total += await folderBytes(join(path, name));
  return total;
}
