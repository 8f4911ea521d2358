/**
 * Claiming: evaluates open jobs with the filter (manifests and scenes fetched in the background,
 * decisions recorded once), and claims one batch per job up to the free concurrency and stake.
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { formatUnits } from "viem";
import { fetchManifest as readManifest, type Manifest } from "@tessellate/sdk";
import { contractErrorOf } from "@tessellate/sdk/contractErrors";
import { FatalError } from "@tessellate/sdk/errors";
import { isWorkHour } from "../config/config.ts";
import { filterJob, type NodeCapabilities } from "../jobs/jobFilter.ts";
import type { JobRow } from "../state/stateStore.ts";
import { MAX_BATCH, META_OVERRUNS, problemLine, WorkerContext } from "./context.ts";
import { freeTiles, startRenders } from "./render.ts";


export async function manifestOf(ctx: WorkerContext, jobId: bigint): Promise<Manifest> {
  const job = ctx.d.store.getJob(jobId);
  if (job?.manifest) return job.manifest;
  if (!job) throw new FatalError("JOB_UNKNOWN", `job ${jobId} is not in the state file`);
  const manifest = await readManifest(ctx.d.storage, job.params.manifestCid);
  ctx.d.store.setJobManifest(jobId, manifest);
  return manifest;
}

/** How often the node looks for claim tickets of its own left waiting (a restart between request and resolution). */
export const TICKET_CHECK_INTERVAL_MS = 30_000;

/**
 * A claim is a request and, a block later, its resolution (the sdk's `claim` sends both). A node that
 * stopped in between left a ticket waiting with its collateral locked: the contract resolves it in
 * passing on anyone's next claim, give-back or expiry of the job, and lets it lapse after 256 blocks
 * at a forfeit. So the node resolves its own waiting tickets itself, from the fold's claim queue.
 */
export async function resolveWaitingTickets(ctx: WorkerContext): Promise<void> {
  const { store, market } = ctx.d;
  const last = ctx.lastTicketCheck ?? -Infinity;
  if (ctx.d.clock.now() - last < TICKET_CHECK_INTERVAL_MS) return;
  ctx.lastTicketCheck = ctx.d.clock.now();
  let latest: bigint;
  try {
    latest = await market.blockNumber();
  } catch (error) {
    ctx.failed("tickets", error, {}, "reading the block number");
    return;
  }
  for (const job of store.listJobs({})) {
    const record = store.market.loadFoldJob(job.jobId, []);
    const mine = record?.tickets?.filter((t) => t.provider.toLowerCase() === ctx.me.toLowerCase() && t.seedBlock <= latest) ?? [];
    if (mine.length === 0) continue;
    const key = `resolve:${job.jobId}`;
    if (!ctx.ready(key)) continue;
    try {
      await market.resolveClaims(job.jobId);
      ctx.backoff.succeeded(key);
      ctx.log.info({ jobId: String(job.jobId), tickets: mine.length }, `resolved ${mine.length} claim ticket(s) of job ${job.jobId} left waiting`);
      await ctx.syncQuietly();
      startRenders(ctx, Number(await market.latestTimestamp()));
    } catch (error) {
      ctx.failed(key, error, { jobId: String(job.jobId) }, "resolving claim tickets");
    }
  }
}

export async function claimWork(ctx: WorkerContext, now: number): Promise<void> {
  const { store, config, market } = ctx.d;
  await resolveWaitingTickets(ctx);
  const candidates = store.listJobs({ status: "open" }).filter((job) => !(job.decision === "skipped" && job.final));
  if (candidates.length === 0) return;
  for (const job of candidates) {
    if (job.manifest) continue;
    if (now + job.params.leaseDuration > Number(job.params.deadline)) {
      recordDecision(ctx, job, "skipped", `its claim window closed (deadline ${job.params.deadline}, lease ${job.params.leaseDuration} s)`, true);
    } else fetchManifest(ctx, job);
  }

  const readSituation = async () => {
    const fresh = ctx.situation && ctx.d.clock.now() - ctx.situation.at < Math.max(1_000, market.pollingIntervalMs * 10);
    if (!fresh) {
      const [provider, freeStake] = await Promise.all([market.providerOf(ctx.me), market.freeStake(ctx.me)]);
      ctx.situation = { registered: provider.registered, reputation: provider.registered ? provider.score : 0, freeStake, at: ctx.d.clock.now() };
    }
    return ctx.situation!;
  };
  const busy = () => store.listReplicas({ states: ["claimed", "rendering", "recovering", "rendered", "committing"] });
  const canClaim = !ctx.paused && isWorkHour(config.limits.workHours, new Date(ctx.d.clock.now()));

  for (const job of candidates) {
    const fresh = store.getJob(job.jobId)!;
    if (!fresh.manifest) continue; // still being fetched
    // Segments this node gave back stay closed to it for a cooldown (JobMarket._tryClaim): not counted.
    const open = store.market.claimableSegments(job.jobId, ctx.me, fresh.params.redundancy, fresh.params.segmentCount, { now: BigInt(now), leaseDuration: fresh.params.leaseDuration });
    // Nothing left to claim and already decided: no need to ask the chain about stake again.
    if (open === 0 && fresh.decision !== "pending") continue;
    let current: { registered: boolean; reputation: number; freeStake: bigint };
    try {
      current = await readSituation();
    } catch (error) {
      ctx.failed("situation", error, {}, "reading stake and reputation");
      return;
    }
    const decision = filterJob(
      { jobId: fresh.jobId, params: fresh.params, manifest: fresh.manifest, cancelled: fresh.status === "cancelled" },
      capabilities(ctx),
      { ...current, nowSeconds: now },
    );
    // A trial render of this job that finished in time outweighs the estimate.
    const accept = decision.accept || (decision.estimated === true && ctx.deferred.isProven(job.jobId));
    let trial = false;
    let retrial: string | undefined;
    if (ctx.deferred.hasOverrun(job.jobId) && (decision.accept || decision.estimated)) {
      // A render of this job ran past its lease: measured, that outweighs the estimate. Only a
      // re-trial of one segment, once something measured changed; otherwise the skip recorded at
      // the overrun (with what would change it) stands.
      retrial = ctx.deferred.retrialReason(job.jobId, {
        nowMs: ctx.d.clock.now(),
        nowSeconds: now,
        leaseSeconds: fresh.params.leaseDuration,
        deadlineSeconds: Number(fresh.params.deadline),
        claimable: open,
        speedFactor: ctx.speed.factor,
        loadPerCore: ctx.loadPerCore(),
      });
      if (retrial === undefined) continue;
      trial = true;
    } else if (decision.accept) ctx.deferred.clear(job.jobId);
    else if (decision.estimated && !accept) {
      ctx.deferred.defer(job.jobId, ctx.d.clock.now());
      trial = ctx.deferred.trialDue(job.jobId, { nowMs: ctx.d.clock.now(), nowSeconds: now, leaseSeconds: fresh.params.leaseDuration, deadlineSeconds: Number(fresh.params.deadline), claimable: open });
    }
    if (!decision.accept && !accept && !trial) {
      recordDecision(ctx, fresh, "skipped", `${decision.reason}${decision.estimated ? " (deferred: re-checked as measured renders refine the estimate)" : ""}`, decision.final);
      continue;
    }
    // The scene must be here (fetched and readable) before the first claim.
    if (!(await sceneReady(ctx, fresh))) continue;
    if (!trial) recordDecision(ctx, fresh, "accepted", null, false);
    if (!canClaim) continue;

    const exhaustedAt = ctx.exhausted.get(job.jobId);
    if (exhaustedAt !== undefined && ctx.d.clock.now() - exhaustedAt < 60_000) continue;
    const key = `claim:${job.jobId}`;
    if (!ctx.ready(key)) continue;
    // Render slots free, in tiles of this job (a slot may hold several: render.ts tilesPerSlot).
    const free = freeTiles(ctx, job.jobId, busy());
    const affordable = Number(current.freeStake / fresh.params.collateralPerReplica);
    const count = Math.min(free, affordable, MAX_BATCH, open, trial ? 1 : MAX_BATCH);
    if (count <= 0) continue;
    try {
      const { unfilled } = await market.claim(job.jobId, count);
      if (unfilled === count) {
        // The ticket found nothing open to this node when it resolved (its collateral is back).
        ctx.exhausted.set(job.jobId, ctx.d.clock.now());
        ctx.backoff.succeeded(key);
        ctx.situation = undefined;
        await ctx.syncQuietly();
        ctx.log.debug({ jobId: String(job.jobId) }, "nothing left to claim in this job for now");
        continue;
      }
      if (trial) {
        // Counted only once the claim is on-chain (a paused node or a failed claim has not tried).
        ctx.deferred.markTrial(job.jobId);
        if (retrial !== undefined) {
          ctx.d.store.setMeta(META_OVERRUNS, JSON.stringify(ctx.deferred.overrunRecords()));
          ctx.log.info({ jobId: String(job.jobId), why: retrial }, `re-trying one segment of job ${job.jobId} after a render ran past its lease: ${retrial}`);
        } else {
          ctx.log.info({ jobId: String(job.jobId), estimate: decision.accept ? undefined : decision.reason }, `trying one segment of job ${job.jobId} despite the estimate: nobody else claimed it for a whole lease`);
        }
      }
      ctx.exhausted.delete(job.jobId);
      ctx.backoff.succeeded(key);
      await ctx.syncQuietly();
      const claimed = store.listReplicas({ jobId: job.jobId, states: ["claimed"] }).length;
      ctx.d.metrics.count("claims", 1);
      ctx.log.info({ jobId: String(job.jobId), asked: count, holding: claimed }, "claimed");
      ctx.situation = undefined; // stake changed
      startRenders(ctx, now);
    } catch (error) {
      switch (contractErrorOf(error)?.name) {
        case "JobMarketTooEarly":
          // Requested in the job's creation block: the next tick is a later block.
          ctx.log.debug({ jobId: String(job.jobId) }, "the job was created in this block: claiming from the next");
          break;
        case "JobMarketGiveBackCooldown":
          // This node gave a slot of the job back less than a lease ago: no new draw until then.
          ctx.exhausted.set(job.jobId, ctx.d.clock.now());
          ctx.log.debug({ jobId: String(job.jobId) }, `no new claim on job ${job.jobId} yet: ${(error as Error).message}`);
          break;
        case "JobMarketClaimWindowClosed":
        case "JobMarketJobNotOpen":
          recordDecision(ctx, fresh, "skipped", `the contract refused claims: ${(error as Error).message}`, true);
          break;
        default:
          ctx.failed(key, error, { jobId: String(job.jobId), count }, "claim");
      }
    }
  }
}

export function capabilities(ctx: WorkerContext): NodeCapabilities {
  const { config } = ctx.d;
  return {
    installedEngines: ctx.d.installedEngines,
    enabledEngines: config.engines,
    maxSceneBytes: config.limits.maxSceneBytes,
    minRewardPerRenderSecondWei: config.pricing.minRewardPerRenderSecondWei,
    minJobReputation: config.minJobReputation,
    benchmarkScore: ctx.d.benchmarkScore,
    speedFactor: ctx.speed.factor,
    commitMarginSeconds: config.limits.commitMarginSeconds,
    renderTimeSafetyFactor: config.limits.renderTimeSafetyFactor,
  };
}

export function recordDecision(ctx: WorkerContext, job: JobRow, decision: "accepted" | "skipped", reason: string | null, final: boolean): void {
  // A final skip stands: a decision computed from an older read of the job never overwrites it.
  const stored = ctx.d.store.getJob(job.jobId);
  if (stored?.decision === "skipped" && stored.final) return;
  if (!ctx.d.store.setJobDecision(job.jobId, decision, reason, final)) return;
  if (decision === "skipped") ctx.log.info({ jobId: String(job.jobId), reason, final }, `skipping job ${job.jobId}: ${reason}`);
  else ctx.log.info({ jobId: String(job.jobId), engine: job.manifest?.engine.name, reward: formatUnits(job.params.rewardPerReplica, 18) }, `accepting job ${job.jobId}`);
}

/**
 * Whether the job's scene is in the scene cache with its entry file. Fetches it in the background
 * the first time; a scene that is missing from IPFS, too large or has no entry file skips the job
 * for good, before anything was claimed.
 */
export async function sceneReady(ctx: WorkerContext, job: JobRow): Promise<boolean> {
  const manifest = job.manifest!;
  const { cid, entry } = manifest.scene;
  if (ctx.scenes.has(cid)) {
    if (existsSync(join(ctx.scenes.dir, cid, entry))) return true;
    recordDecision(ctx, job, "skipped", `its scene ${cid} has no entry file ${entry}`, true);
    return false;
  }
  if (ctx.fetchingScenes.has(job.jobId)) return false;
  const key = `scene:${job.jobId}`;
  if (!ctx.ready(key)) return false;
  const run = (async () => {
    try {
      await ctx.scenes.ensure(cid, { maxBytes: ctx.d.config.limits.maxSceneBytes, signal: ctx.stopping.signal });
      ctx.backoff.succeeded(key);
    } catch (error) {
      if (!ctx.d.store.isOpen || ctx.stopping.signal.aborted) return;
      const current = ctx.d.store.getJob(job.jobId);
      if (error instanceof FatalError && current) {
        recordDecision(ctx, current, "skipped", `its scene ${cid} cannot be fetched: ${problemLine((error as Error).message)}`, true);
      } else {
        const delay = ctx.backoff.failed(key, ctx.d.clock.now());
        if (ctx.backoff.attempts(key) === 1 || ctx.backoff.attempts(key) % 10 === 0) {
          ctx.log.warn({ jobId: String(job.jobId), sceneCid: cid, err: (error as Error).message, retryInMs: delay }, "cannot fetch the job's scene yet; not claiming until it is here");
        }
      }
    } finally {
      ctx.fetchingScenes.delete(job.jobId);
      ctx.wake();
    }
  })();
  ctx.fetchingScenes.set(job.jobId, run);
  return false;
}

/** Fetches and validates a job's manifest in the background; a bad one skips the job for good. */
export function fetchManifest(ctx: WorkerContext, job: JobRow): void {
  if (ctx.fetchingManifests.has(job.jobId)) return;
  const key = `manifest:${job.jobId}`;
  if (!ctx.ready(key)) return;
  const run = (async () => {
    try {
      const manifest = await readManifest(ctx.d.storage, job.params.manifestCid, { signal: ctx.stopping.signal });
      if (!ctx.d.store.isOpen) return;
      ctx.d.store.setJobManifest(job.jobId, manifest);
      ctx.backoff.succeeded(key);
    } catch (error) {
      if (!ctx.d.store.isOpen || ctx.stopping.signal.aborted) return;
      if (error instanceof FatalError) {
        const problem = (error as Error).message;
        const current = ctx.d.store.getJob(job.jobId)!;
        recordDecision(ctx, current, "skipped", `its manifest ${job.params.manifestCid} is unusable: ${problemLine(problem)}`, true);
      } else {
        const delay = ctx.backoff.failed(key, ctx.d.clock.now());
        if (ctx.backoff.attempts(key) === 1 || ctx.backoff.attempts(key) % 10 === 0) {
          ctx.log.warn({ jobId: String(job.jobId), manifestCid: job.params.manifestCid, err: (error as Error).message, retryInMs: delay }, "cannot fetch the job's manifest yet");
        }
      }
    } finally {
      ctx.fetchingManifests.delete(job.jobId);
      ctx.wake();
    }
  })();
  ctx.fetchingManifests.set(job.jobId, run);
}
