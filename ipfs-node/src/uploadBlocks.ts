/**
 * The blocks that `add` requests write, tracked while they run, so that the blocks of an upload
 * that fails (refused over the limit, cut by the client, aborted while pinning) are deleted again
 * instead of lying unpinned in the blockstore for good.
 *
 * A block is deleted only when the upload that failed was the one that brought it here (it was
 * not on disk when first written), no upload still running wrote it too, no upload that succeeded
 * used it, and it is not pinned. Concurrent uploads of the same content therefore never lose each
 * other's blocks.
 */
import type { Helia } from "helia";
import type { CID } from "multiformats/cid";
import type { IpfsNodeLogger } from "./logger.ts";

interface Tracked {
  cid: CID;
  /** Uploads in flight that wrote this block. */
  writers: number;
  /** Whether the block was absent before the first of them wrote it. */
  fresh: Promise<boolean>;
  /** An upload that wrote it succeeded: the block is wanted. */
  kept: boolean;
  /** Set while the block is being deleted: a new writer waits for that, then writes it again. */
  deleting?: Promise<boolean>;
}

/** What the importer needs of a blockstore. */
export type BlockWriter = Pick<Helia["blockstore"], "put">;

export interface UploadBlocks {
  /** Where the upload writes its blocks. */
  readonly blockstore: BlockWriter;
  /** Blocks written so far that were not on disk before. */
  readonly freshBlocks: number;
  /** Ends the upload: `kept` when its content is wanted; otherwise its own blocks are deleted. Resolves to the number deleted. */
  end(kept: boolean): Promise<number>;
}

export class UploadBlockTracker {
  private readonly tracked = new Map<string, Tracked>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly helia: Helia;
  private readonly logger: IpfsNodeLogger;

  constructor(helia: Helia, logger: IpfsNodeLogger) {
    this.helia = helia;
    this.logger = logger;
  }

  /** Blocks of uploads in flight (for tests and logs). */
  get trackedBlocks(): number {
    return this.tracked.size;
  }

  /** Resolves once no upload is running (the node waits for this before closing its repo). */
  async idle(): Promise<void> {
    if (this.active === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  begin(): UploadBlocks {
    this.active += 1;
    const mine = new Map<string, Tracked>();
    const writes = new Set<Promise<unknown>>();
    const { blockstore } = this.helia;
    let fresh = 0;
    let ended = false;
    let wasKept = false;
    const put: BlockWriter["put"] = async (cid, block, options) => {
      const key = keyOf(cid);
      if (ended) {
        // A write that a failed importer started after the add ended: it lands, then goes again if nobody wants it.
        const late = this.acquire(key, cid);
        try {
          await late.fresh;
          return await blockstore.put(cid, block, options);
        } finally {
          await this.release(key, late, wasKept);
        }
      }
      let entry = mine.get(key);
      if (entry === undefined) {
        entry = this.acquire(key, cid);
        mine.set(key, entry);
        if (await entry.fresh) fresh += 1;
      }
      const write = Promise.resolve(blockstore.put(cid, block, options));
      writes.add(write);
      try {
        return await write;
      } finally {
        writes.delete(write);
      }
    };
    return {
      blockstore: { put },
      get freshBlocks() {
        return fresh;
      },
      end: async (kept) => {
        if (ended) return 0;
        ended = true;
        wasKept = kept;
        try {
          // A failed importer may leave writes running: they must land before their blocks can go.
          await Promise.allSettled([...writes]);
          let deleted = 0;
          for (const [key, entry] of mine) if (await this.release(key, entry, kept)) deleted += 1;
          return deleted;
        } finally {
          this.active -= 1;
          if (this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        }
      },
    };
  }

  /** Counts one more upload writing the block. */
  private acquire(key: string, cid: CID): Tracked {
    let entry = this.tracked.get(key);
    if (entry === undefined || entry.deleting !== undefined) {
      const deleted = entry?.deleting ?? Promise.resolve(false);
      // Writes of this block wait on `fresh`, so none lands before a deletion in progress is done.
      const fresh = deleted.then(() => this.helia.blockstore.has(cid)).then((present) => !present);
      entry = { cid, writers: 0, fresh, kept: false };
      this.tracked.set(key, entry);
    }
    entry.writers += 1;
    return entry;
  }

  /** One upload is done with the block; the last one deletes it when it is fresh and no upload kept it. True when deleted. */
  private async release(key: string, entry: Tracked, kept: boolean): Promise<boolean> {
    if (kept) entry.kept = true;
    entry.writers -= 1;
    if (entry.writers > 0) return false;
    let deleted = false;
    if (!entry.kept && (await entry.fresh) && entry.writers === 0) {
      entry.deleting = this.deleteUnpinned(entry.cid);
      deleted = await entry.deleting;
    }
    if (this.tracked.get(key) === entry) this.tracked.delete(key);
    return deleted;
  }

  private async deleteUnpinned(cid: CID): Promise<boolean> {
    try {
      // Helia's delete refuses a pinned block (and takes the blockstore's write lock).
      await this.helia.blockstore.delete(cid);
      return true;
    } catch (error) {
      const name = (error as Error).name;
      if (name !== "BlockPinnedError" && name !== "NotFoundError") {
        this.logger.warn({ cid: cid.toString(), err: (error as Error).message }, "could not delete a block of a failed upload");
      }
      return false;
    }
  }
}

function keyOf(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}
