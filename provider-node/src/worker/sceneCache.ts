/**
 * Scenes cached on disk by CID: `<dataDir>/scenes/<cid>/` holds the scene folder exactly as
 * stored on IPFS. A CID names immutable content, so a cached folder never needs refreshing; it
 * is fetched into a temporary folder and renamed into place, so a folder that exists is complete.
 * Two replicas of one scene share one fetch.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Storage } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";

export class SceneCache {
  readonly dir: string;
  private readonly storage: Storage;
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(storage: Storage, dir: string) {
    this.storage = storage;
    this.dir = dir;
  }

  /** Whether the scene `cid` is cached (complete). */
  has(cid: string): boolean {
    return /^[A-Za-z0-9]+$/.test(cid) && existsSync(join(this.dir, cid));
  }

  /** Folder of the scene `cid`, fetching it when it is not cached. Rejects with storage errors as they come. */
  ensure(cid: string, options: { maxBytes: number; signal?: AbortSignal }): Promise<string> {
    if (!/^[A-Za-z0-9]+$/.test(cid)) return Promise.reject(new FatalError("SCENE_BAD_CID", `scene CID "${cid}" has characters a CID cannot have`));
    const target = join(this.dir, cid);
    if (existsSync(target)) return Promise.resolve(target);
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
      return target;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }
}
