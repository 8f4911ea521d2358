/**
 * The node's measured render times, published in its profile (`measuredRenders`) so requesters'
 * estimates rest on what renders really took (sdk/src/measuredEstimate.ts). Every finished render
 * adds its measured ÷ benchmark-estimated seconds to its engine's list (the last
 * MAX_MEASURED_RENDERS, kept in the state file); when renders were added since the last
 * publication and `profilePublishIntervalSeconds` has passed, the node reads its registered
 * profile back from IPFS, replaces `measuredRenders`, adds the new profile and calls
 * `updateProfile` (one transaction per interval at most, none while idle).
 */
import { canonicalJson, MAX_PROFILE_BYTES, MAX_MEASURED_RENDERS, parseProviderProfile, type MeasuredRenders } from "@tessellate/sdk";
import type { WorkerContext } from "./context.ts";

const META_RENDERS = "measuredRenders";
const META_UNPUBLISHED = "measuredRendersUnpublished";
const META_PUBLISHED_AT = "measuredRendersPublishedAt";

/** The recorded measurements (as the next profile will carry them). */
export function measuredRendersOf(ctx: WorkerContext): MeasuredRenders[] {
  try {
    return JSON.parse(ctx.d.store.getMeta(META_RENDERS) ?? "[]") as MeasuredRenders[];
  } catch {
    return [];
  }
}

/** Records one finished render of `engine` `version`: `ratio` = measured ÷ estimated seconds at the node's benchmark score. */
export function recordMeasuredRender(ctx: WorkerContext, engine: string, version: string, ratio: number): void {
  if (!(ratio > 0) || !Number.isFinite(ratio)) return;
  const all = measuredRendersOf(ctx);
  const benchmarkScore = ctx.d.benchmarkScore;
  let entry = all.find((m) => m.engine === engine && m.version === version);
  if (!entry || entry.benchmarkScore !== benchmarkScore) {
    // Ratios estimated at another score are not comparable: start the list again.
    const fresh: MeasuredRenders = { engine, version, benchmarkScore, ratios: [] };
    if (entry) all.splice(all.indexOf(entry), 1, fresh);
    else all.push(fresh);
    entry = fresh;
  }
  entry.ratios.push(Math.round(ratio * 1000) / 1000 || 0.001);
  if (entry.ratios.length > MAX_MEASURED_RENDERS) entry.ratios.splice(0, entry.ratios.length - MAX_MEASURED_RENDERS);
  ctx.d.store.transaction(() => {
    ctx.d.store.setMeta(META_RENDERS, JSON.stringify(all));
    ctx.d.store.setMeta(META_UNPUBLISHED, String(Number(ctx.d.store.getMeta(META_UNPUBLISHED) ?? "0") + 1));
  });
}

/** Publishes the measurements in the node's profile when due (see the module comment). */
export async function publishMeasuredRenders(ctx: WorkerContext): Promise<void> {
  const { market, store, storage, clock, config } = ctx.d;
  if (!market.profileCid || !market.updateProfile) return;
  const unpublished = Number(store.getMeta(META_UNPUBLISHED) ?? "0");
  if (unpublished === 0 || !ctx.ready("profile")) return;
  const publishedAt = Number(store.getMeta(META_PUBLISHED_AT) ?? "0");
  if (clock.now() - publishedAt < config.profilePublishIntervalSeconds * 1000) return;
  try {
    const current = await market.profileCid(ctx.me);
    if (current === undefined) return; // not registered: `register` publishes the first profile
    const profile = parseProviderProfile(await storage.cat(current, { maxBytes: MAX_PROFILE_BYTES, signal: ctx.stopping.signal }));
    const measuredRenders = measuredRendersOf(ctx);
    const next = { ...profile, measuredRenders, updatedAt: new Date(clock.now()).toISOString() };
    const cid = await storage.addBytes(new TextEncoder().encode(canonicalJson(next)));
    await market.updateProfile(cid);
    store.setMeta(META_PUBLISHED_AT, String(clock.now()));
    store.setMeta(META_UNPUBLISHED, "0");
    ctx.backoff.succeeded("profile");
    ctx.log.info({ profileCid: cid, renders: measuredRenders.map((m) => `${m.engine} ${m.version}: ${m.ratios.length}`).join(", ") }, "published measured render times in the profile");
  } catch (error) {
    ctx.failed("profile", error, {}, "publish measured render times");
  }
}
