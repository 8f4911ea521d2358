"use client";
/**
 * Accepted tiles as they settle, for the Job page's grid: each newly accepted segment's result
 * PNGs are fetched from the gateway, their pixel digest (and, Tolerant, fingerprint) recomputed by
 * the sdk (never a canvas) and compared with what the replica revealed; the accepted replica's
 * result is drawn, or another agreeing replica's when it does not check out (its first frame's
 * PNG, as a blob URL). A segment none of whose results check out is shown as a problem.
 */
import { useEffect, useRef, useState } from "react";
import { acceptedSegmentOf, maxTilePngBytes, resolveAcceptedSegment, resultFileName, segmentAt, type JobRecord, type Manifest } from "@tessellate/sdk";
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
      void (async () => {
        let tile: AcceptedTile;
        try {
          // The accepted replica's result, or another agreeing replica's when it does not check out
          // (digest and, Tolerant, fingerprint recomputed by the sdk, never a canvas).
          const { result, checks } = await resolveAcceptedSegment(manifest, index, acceptedSegmentOf(seg)!, storage);
          if (result) {
            const segment = segmentAt(manifest, index);
            const png = await storage.cat(`${result.resultCid}/${resultFileName(segment.frames[0]!)}`, { maxBytes: maxTilePngBytes(segment.tile.width, segment.tile.height) });
            const url = URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: "image/png" }));
            urls.current.push(url);
            tile = { url };
          } else tile = { problem: checks.map((c) => c.problem).join("; ") };
        } catch (error) {
          tile = { problem: error instanceof Error ? error.message : String(error) };
        }
        setTiles((old) => new Map(old).set(index, tile));
      })();
    }
  }, [manifest, job, gatewayUrl]);
  return tiles;
}
