/**
 * Publishing results once they are accepted (issue 10 property 2, sealed results).
 *
 * A replica reveals the CID of its result folder computed with `only-hash`: nothing is stored or
 * announced, so a tie-breaker or replacement replica that takes a slot after the reveal cannot
 * download the pixels and hash them into the deeper link of the digest chain it must reveal. Once
 * the replica is accepted (its segment's quorum agreed with it, or it agreed late), the worker adds
 * the folder for real and checks that the node returns the revealed CID; the requester's
 * compositor waits for it (sdk resultFiles.ts). A rejected replica's result is never published (its
 * folder stays in the data dir's results/). The state file records what was published, so a
 * restart publishes what a crash left.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { WorkerContext } from "./context.ts";
import { resultDirOf } from "./render.ts";

/**
 * Step 2b of the tick: adds every accepted replica's result folder that is not on IPFS yet. What
 * was published is recorded in one state commit at the end (not one flushed write per tile), and
 * only then are the folders removed: a crash before that commit publishes them again (the same
 * CIDs; adding is idempotent).
 */
export async function publishAccepted(ctx: WorkerContext): Promise<void> {
  const { store, storage, config } = ctx.d;
  const published: Array<{ id: number; dir: string }> = [];
  try {
    for (const row of store.unpublishedAccepted()) {
      if (ctx.stopping.signal.aborted) return;
      const key = `publish:${row.id}`;
      if (!ctx.ready(key)) continue;
      const log = ctx.log.child({ jobId: row.jobId, segment: row.segment, replica: row.replica });
      const dir = resultDirOf(config.dataDir, row);
      if (!existsSync(dir)) {
        // Lost with the data dir (a state file rebuilt from the chain): nothing to publish, once.
        log.error({ resultCid: row.resultCid, dir }, "the accepted result's folder is gone from the data dir; it cannot be published (the requester falls back to another agreeing replica)");
        published.push({ id: row.id, dir });
        continue;
      }
      try {
        const cid = await storage.addFolder(dir, { signal: ctx.stopping.signal });
        if (cid !== row.resultCid) {
          // The files changed on disk since the reveal: what the chain names cannot be served.
          log.error({ revealed: row.resultCid, added: cid }, "the result folder no longer gives the revealed CID; it cannot be published");
        } else {
          log.info({ resultCid: cid }, "accepted: result published");
        }
        published.push({ id: row.id, dir });
        ctx.backoff.succeeded(key);
      } catch (error) {
        ctx.failed(key, error, { jobId: row.jobId, segment: row.segment, replica: row.replica }, "publishing the accepted result");
      }
    }
  } finally {
    if (published.length > 0 && store.isOpen) {
      store.transaction(() => {
        for (const { id } of published) store.markPublished(id);
      });
      // The IPFS node holds them now.
      await Promise.all(published.map(({ dir }) => rm(dir, { recursive: true, force: true }).catch(() => undefined)));
    }
  }
}
