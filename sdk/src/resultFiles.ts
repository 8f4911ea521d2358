/**
 * The files of a segment's result folder, and what the chain accepted for a segment: shared by
 * provider nodes (which write results), the CLI (which fetches and composites them) and the dApp.
 * Browser-safe.
 */
import { FatalError, TessellateError } from "./errors.ts";
import { fingerprint } from "./fingerprint.ts";
import { pngDigest } from "./pixelDigest.ts";
import { isLinkOf } from "./protocol/digestChain.ts";
import { decodePng, readPngSize } from "./png.ts";
import { segmentAt, type SegmentPlanInput } from "./segmentPlan.ts";
import { STORAGE_ERROR_CODES, type Storage } from "./storage.ts";

/**
 * How long a reader waits for an accepted result to appear on IPFS. A provider reveals only its
 * result's CID and adds the folder once its replica is accepted (the provider node's publish.ts:
 * no replica that takes a slot later can hash a public result), so a result is on IPFS a moment
 * after `SegmentAccepted`, not at the reveal.
 */
export const DEFAULT_PUBLISH_WAIT_MS = 30_000;

/** A read that failed because the content is not (yet) on the node, as opposed to wrong content. */
function notYetPublished(error: unknown): boolean {
  return error instanceof TessellateError && (error.code === STORAGE_ERROR_CODES.notFound || error.code === STORAGE_ERROR_CODES.unavailable);
}

/** `storage.cat`, retried while the content is not on the node yet, until `deadline` (ms since the epoch). */
async function catPublished(storage: Pick<Storage, "cat">, path: string, options: { maxBytes: number; signal?: AbortSignal }, deadline: number): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await storage.cat(path, options);
    } catch (error) {
      if (!notYetPublished(error) || Date.now() >= deadline) throw error;
    }
    const pause = Math.min(2_000, 100 * 2 ** attempt, Math.max(0, deadline - Date.now()));
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => (clearTimeout(timer), reject(options.signal!.reason));
      const timer = setTimeout(() => (options.signal?.removeEventListener("abort", onAbort), resolve()), pause);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * What the chain accepted for one segment: the accepted replica's revealed result (the fold's
 * `acceptedSegmentOf`), and the other agreeing replicas' results to fall back on.
 */
export interface AcceptedSegment {
  /** Pixel digest the replica revealed (in an Exact job, the one the quorum agreed on). */
  digest: string;
  /** CID of the result folder (one PNG per frame, named by {@link resultFileName}). */
  resultCid: string;
  /** Tolerant jobs: the fingerprint the replica revealed; its pixels must give exactly this. */
  fingerprint?: string;
  /** Slot of the replica that revealed this result, when known. */
  replica?: number;
  /**
   * The other replicas that agreed with the accepted one and were paid, in the documented order
   * (by slot): tried in turn when this result does not check out (its CID resolves to nothing, to
   * other pixels, or, Tolerant, to pixels of another fingerprint), so that one agreeing replica
   * cannot withhold the segment.
   */
  alternatives?: AcceptedSegment[];
}

/**
 * Name of the PNG of `frame` inside a segment's result folder, and of the composited frame in
 * `outDir`: `frame-` + the frame number zero-padded to 6 digits + `.png` (`frame-000042.png`).
 * Provider nodes write their results with this name.
 */
export function resultFileName(frame: number): string {
  if (!Number.isSafeInteger(frame) || frame < 0) throw new FatalError("FRAME_INVALID", `frame ${frame} is not a non-negative integer`);
  return `frame-${String(frame).padStart(6, "0")}.png`;
}

/**
 * Most bytes a PNG of a `width`×`height` tile can reasonably take: uncompressed 16-bit RGBA plus
 * filter bytes, deflate framing and 1 MiB of ancillary chunks. Used as `maxBytes` when fetching.
 */
export function maxTilePngBytes(width: number, height: number): number {
  const raw = height * (1 + width * 8);
  return raw + Math.ceil(raw / 16_000) * 5 + 1024 * 1024;
}

/** Outcome of re-checking one accepted segment's result. */
export interface SegmentCheck {
  segment: number;
  ok: boolean;
  /** The accepted digest (from `SegmentAccepted`). */
  expected: string;
  /** The digest of the pixels storage served, when they could be read. */
  actual?: string;
  resultCid: string;
  /** What went wrong, when not ok. */
  problem?: string;
  /** Slot of the replica whose result was checked, when known. */
  replica?: number;
  /** Tolerant: the fingerprint of the pixels storage served, when they could be read. */
  actualFingerprint?: string;
}

/**
 * Fetches the result of segment `index` (one PNG per frame, named by `resultFileName`), and
 * re-computes its pixel digest with the sdk's decoder and, when `accepted` carries one, its
 * fingerprint (the CLI's audit and the dApp's Audit page). Only `accepted` itself is checked,
 * not its alternatives (see {@link resolveAcceptedSegment}). A result not on IPFS yet is waited
 * for up to `publishWaitMs` ({@link DEFAULT_PUBLISH_WAIT_MS}): its provider adds it once accepted.
 */
export async function verifyAcceptedSegment(
  manifest: SegmentPlanInput,
  index: number,
  accepted: AcceptedSegment,
  storage: Pick<Storage, "cat">,
  signal?: AbortSignal,
  publishWaitMs: number = DEFAULT_PUBLISH_WAIT_MS,
): Promise<SegmentCheck> {
  const deadline = Date.now() + publishWaitMs;
  const segment = segmentAt(manifest, index);
  const base = { segment: index, expected: accepted.digest.toLowerCase(), resultCid: accepted.resultCid, ...(accepted.replica === undefined ? {} : { replica: accepted.replica }) };
  const pngs: Uint8Array[] = [];
  for (const frame of segment.frames) {
    const path = `${accepted.resultCid}/${resultFileName(frame)}`;
    try {
      const bytes = await catPublished(storage, path, { maxBytes: maxTilePngBytes(segment.tile.width, segment.tile.height), signal }, deadline);
      const size = readPngSize(bytes);
      if (size.width !== segment.tile.width || size.height !== segment.tile.height) {
        return { ...base, ok: false, problem: `${path} is ${size.width}×${size.height} pixels, but the tile is ${segment.tile.width}×${segment.tile.height}` };
      }
      pngs.push(bytes);
    } catch (error) {
      return { ...base, ok: false, problem: `${path}: ${(error as Error).message}` };
    }
  }
  let actual: string;
  try {
    actual = pngDigest(pngs);
  } catch (error) {
    return { ...base, ok: false, problem: `the PNGs of ${accepted.resultCid} cannot be decoded: ${(error as Error).message}` };
  }
  // The revealed digest is a link of the pixel digest's chain (the round it was revealed in).
  if (!isLinkOf(actual as `0x${string}`, accepted.digest as `0x${string}`)) {
    return { ...base, ok: false, actual, problem: `the pixels at ${accepted.resultCid} have digest ${actual}, not the revealed ${base.expected} (nor any link of its chain, sdk digestChain.ts)` };
  }
  if (accepted.fingerprint === undefined) return { ...base, ok: true, actual };
  // Tolerant: the contract compared the revealed fingerprints, never the pixels; re-derive it.
  const actualFingerprint = fingerprint(pngs.map((png) => decodePng(png)));
  if (actualFingerprint.toLowerCase() !== accepted.fingerprint.toLowerCase()) {
    return { ...base, ok: false, actual, actualFingerprint, problem: `the pixels at ${accepted.resultCid} do not have the fingerprint the replica revealed: it revealed a fingerprint of other pixels` };
  }
  return { ...base, ok: true, actual, actualFingerprint };
}

/**
 * The first of the accepted result and its alternatives (in that order) whose pixels check out
 * ({@link verifyAcceptedSegment}), with every check made; `result` is undefined when none does.
 */
export function resolveAcceptedSegment(
  manifest: SegmentPlanInput,
  index: number,
  accepted: AcceptedSegment,
  storage: Pick<Storage, "cat">,
  signal?: AbortSignal,
  publishWaitMs: number = DEFAULT_PUBLISH_WAIT_MS,
): Promise<{ result?: AcceptedSegment; checks: SegmentCheck[] }> {
  return firstResultThatChecksOut(manifest, index, [accepted, ...(accepted.alternatives ?? [])], storage, signal, publishWaitMs);
}

/** The first of `candidates` whose pixels check out, with every check made (see {@link resolveAcceptedSegment}). */
export async function firstResultThatChecksOut(
  manifest: SegmentPlanInput,
  index: number,
  candidates: readonly AcceptedSegment[],
  storage: Pick<Storage, "cat">,
  signal?: AbortSignal,
  publishWaitMs: number = DEFAULT_PUBLISH_WAIT_MS,
): Promise<{ result?: AcceptedSegment; checks: SegmentCheck[] }> {
  const checks: SegmentCheck[] = [];
  for (const candidate of candidates) {
    signal?.throwIfAborted();
    const check = await verifyAcceptedSegment(manifest, index, candidate, storage, signal, publishWaitMs);
    checks.push(check);
    if (check.ok) return { result: candidate, checks };
  }
  return { checks };
}
