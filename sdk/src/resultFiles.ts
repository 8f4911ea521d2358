/**
 * The files of a segment's result folder, and what the chain accepted for a segment: shared by
 * provider nodes (which write results), the CLI (which fetches and composites them) and the dApp.
 * Browser-safe.
 */
import { FatalError } from "./errors.ts";

/** What the chain accepted for one segment (from the settlement event). */
export interface AcceptedSegment {
  /** Pixel digest the quorum agreed on. */
  digest: string;
  /** CID of the result folder (one PNG per frame, named by {@link resultFileName}). */
  resultCid: string;
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
