"use client";
/**
 * Accepted tiles as they settle, for the Job page's grid: each newly accepted segment's result
 * PNGs are fetched from the gateway, their pixel digest recomputed by the sdk (never a canvas)
 * and compared with the one the quorum accepted; only a matching tile is drawn (its first
 * frame's PNG, as a blob URL). A tile that does not match is shown as a problem, not drawn.
 */
import { useEffect, useRef, useState } from "react";
import { maxTilePngBytes, pngDigest, resultFileName, sameDigest, segmentAt, type JobRecord, type Manifest } from "@tessellate/sdk";
import { gatewayCat } from "./composite.ts";

export type AcceptedTile = { url: string } | { problem: string };

export function useAcceptedTiles(manifest: Manifest | undefined, job: JobRecord | undefined, gatewayUrl: string): ReadonlyMap<number, AcceptedTile> {
  const [tiles, setTiles] = useState<ReadonlyMap<number, AcceptedTile>>(new Map());
  const started = useRef(new Set<number>());
  const urls = useRef<string[]>([]);
  useEffect(
    () => () => {
      for (const url of urls.current) URL.revokeObjectURL(url);
    },
    [],
  );
  useEffect(() => {
    if (!manifest || !job) return;
    const storage = gatewayCat(gatewayUrl);
    for (const [index, seg] of job.segments) {
      if (!seg.accepted || started.current.has(index) || index >= job.params.segmentCount) continue;
      started.current.add(index);
      const accepted = seg.accepted;
      void (async () => {
        let tile: AcceptedTile;
        try {
          const segment = segmentAt(manifest, index);
          const pngs: Uint8Array[] = [];
          for (const frame of segment.frames) {
            pngs.push(await storage.cat(`${accepted.resultCid}/${resultFileName(frame)}`, { maxBytes: maxTilePngBytes(segment.tile.width, segment.tile.height) }));
          }
          const digest = pngDigest(pngs);
          if (sameDigest(digest, accepted.digest)) {
            const url = URL.createObjectURL(new Blob([pngs[0] as Uint8Array<ArrayBuffer>], { type: "image/png" }));
            urls.current.push(url);
            tile = { url };
          } else tile = { problem: `the result's pixels have digest ${digest}, not the accepted ${accepted.digest}` };
        } catch (error) {
          tile = { problem: error instanceof Error ? error.message : String(error) };
        }
        setTiles((old) => new Map(old).set(index, tile));
      })();
    }
  }, [manifest, job, gatewayUrl]);
  return tiles;
}
