/**
 * The composite, made in the browser: the sdk's `compositeToSink` (every tile fetched from the
 * IPFS gateway, decoded by the sdk's PNG decoder — never a canvas, which alters semi-transparent
 * pixels — and its pixel digest checked against the one the quorum accepted) with a sink that
 * keeps the verified frames in memory for download.
 */
import { compositeToSink, FatalError, RetryableError, STORAGE_ERROR_CODES, type AcceptedSegment, type SegmentPlanInput, type Storage } from "@tessellate/sdk";

/** `cat` over an IPFS gateway (`GET /ipfs/<cid>/<path>`), bounded by `maxBytes`. */
export function gatewayCat(gatewayUrl: string): Pick<Storage, "cat"> {
  const base = gatewayUrl.replace(/\/+$/, "");
  return {
    async cat(path, options = {}) {
      let response: Response;
      try {
        response = await fetch(`${base}/ipfs/${path}`, { signal: options.signal });
      } catch (error) {
        throw new RetryableError(STORAGE_ERROR_CODES.unavailable, `the IPFS gateway at ${gatewayUrl} could not be reached: ${(error as Error).message}`, { cause: error });
      }
      if (response.status === 404) throw new FatalError(STORAGE_ERROR_CODES.notFound, `${path} is not on the IPFS gateway at ${gatewayUrl}`);
      if (!response.ok) throw new RetryableError(STORAGE_ERROR_CODES.unavailable, `the IPFS gateway at ${gatewayUrl} answered HTTP ${response.status} for ${path}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (options.maxBytes !== undefined && bytes.byteLength > options.maxBytes) {
        throw new FatalError(STORAGE_ERROR_CODES.tooLarge, `${path} is ${bytes.byteLength} bytes, more than the ${options.maxBytes}-byte limit for it`);
      }
      return bytes;
    },
  };
}

export interface VerifiedFrame {
  frame: number;
  png: Uint8Array;
}

/** Every frame of the job, each tile's digest checked; throws the sdk's error naming the segment when one does not match. */
export async function compositeInBrowser(options: {
  manifest: SegmentPlanInput;
  accepted: ReadonlyMap<number, AcceptedSegment>;
  gatewayUrl: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}): Promise<VerifiedFrame[]> {
  const pending = new Map<number, Uint8Array>();
  const verified: VerifiedFrame[] = [];
  await compositeToSink({
    manifest: options.manifest,
    accepted: options.accepted,
    storage: gatewayCat(options.gatewayUrl),
    onProgress: options.onProgress,
    signal: options.signal,
    sink: {
      write: async (frame, png) => void pending.set(frame, png),
      commit: async (frames) => {
        for (const frame of frames) verified.push({ frame, png: pending.get(frame)! });
        for (const frame of frames) pending.delete(frame);
      },
      discard: async (frames) => {
        for (const frame of frames) pending.delete(frame);
      },
    },
  });
  return verified;
}
