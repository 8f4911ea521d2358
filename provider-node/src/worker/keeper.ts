/**
 * The keeper (expires other providers' missed leases and reveal windows when the keeper fee beats
 * the gas) and the withdrawal of earnings above the threshold.
 */
import { formatUnits, parseUnits } from "viem";
import { keeperFee } from "@tessellate/sdk/protocol";
import { chunks, MAX_BATCH, type WorkerContext } from "./context.ts";

/** Gas assumed for `expire`: a base plus this much per slot (a rough upper bound, to compare with the keeper fee). */
export const EXPIRE_GAS = { base: 80_000n, perSlot: 60_000n };

export async function keep(ctx: WorkerContext, now: number): Promise<void> {
  const { config, store, market } = ctx.d;
  if (!config.keeper.enabled) return;
  const slots = store.market.expirableSlots(now, ctx.me);
  if (slots.length === 0) return;
  const byJob = new Map<bigint, typeof slots>();
  for (const slot of slots) byJob.set(slot.jobId, [...(byJob.get(slot.jobId) ?? []), slot]);
  for (const [jobId, jobSlots] of byJob) {
    const key = `expire:${jobId}`;
    if (!ctx.ready(key)) continue;
    const job = store.getJob(jobId);
    if (!job) continue;
    for (const batch of chunks(jobSlots, MAX_BATCH)) {
      try {
        const fee = keeperFee(job.params.collateralPerReplica, batch.length);
        const gas = (EXPIRE_GAS.base + EXPIRE_GAS.perSlot * BigInt(batch.length)) * (await market.gasPrice());
        const feeInNative = (fee * parseUnits("1", 18)) / config.keeper.tokensPerNative;
        if (feeInNative <= gas) {
          ctx.backoff.failed(key, ctx.d.clock.now());
          ctx.log.debug({ jobId: String(jobId), slots: batch.length, fee: fee.toString(), gas: gas.toString() }, "expiring would cost more gas than the keeper fee; leaving it");
          continue;
        }
        await market.expire(jobId, batch.map((s) => ({ segment: s.segment, replica: s.replica })));
        ctx.d.metrics.count("expires", batch.length);
        ctx.log.info({ jobId: String(jobId), slots: batch.map((s) => `${s.segment}/${s.replica}`), providers: [...new Set(batch.map((s) => s.provider))], reasons: [...new Set(batch.map((s) => s.reason))], keeperFee: formatUnits(fee, 18) }, "expired stale replicas of other providers");
        ctx.backoff.succeeded(key);
        await ctx.syncQuietly();
      } catch (error) {
        ctx.failed(key, error, { jobId: String(jobId), slots: batch.length }, "expire");
        await ctx.syncQuietly();
      }
    }
  }
}

/**
 * Audited jobs: asks for the audit draw of the segments this node holds a replica of once their
 * quorum block is past (JobMarket.auditSegments). Nobody is paid before it; any caller will do,
 * so a node whose pay waits on it calls it.
 */
export async function drawAudits(ctx: WorkerContext): Promise<void> {
  const { store, market } = ctx.d;
  if (store.market.verifyingSegments(ctx.me, BigInt(Number.MAX_SAFE_INTEGER)).length === 0) return; // no RPC call when nothing waits
  const due = store.market.verifyingSegments(ctx.me, await market.blockNumber());
  const byJob = new Map<bigint, number[]>();
  for (const { jobId, segment } of due) byJob.set(jobId, [...(byJob.get(jobId) ?? []), segment]);
  for (const [jobId, segments] of byJob) {
    const key = `audit:${jobId}`;
    if (!ctx.ready(key)) continue;
    for (const batch of chunks(segments, MAX_BATCH)) {
      try {
        await market.auditSegments(jobId, batch);
        ctx.log.info({ jobId: String(jobId), segments: batch }, "drew the audit of segments that reached quorum");
        ctx.backoff.succeeded(key);
      } catch (error) {
        ctx.failed(key, error, { jobId: String(jobId), segments: batch.length }, "auditSegments");
      }
      await ctx.syncQuietly();
    }
  }
}

export async function withdrawEarnings(ctx: WorkerContext): Promise<void> {
  const { market, config, clock } = ctx.d;
  if (clock.now() - ctx.lastWithdrawCheck < Math.max(1_000, market.pollingIntervalMs * 10) || !ctx.ready("withdraw")) return;
  ctx.lastWithdrawCheck = clock.now();
  try {
    const balance = await market.marketBalanceOf(ctx.me);
    if (balance === 0n || balance < config.withdrawThreshold) return;
    await market.withdraw();
    ctx.d.metrics.count("withdrawals");
    ctx.backoff.succeeded("withdraw");
    await ctx.syncQuietly();
  } catch (error) {
    ctx.failed("withdraw", error, {}, "withdraw");
  }
}
