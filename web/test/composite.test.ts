/** The browser composite (lib/composite.ts): tiles from a gateway, decoded by the sdk, digests checked. */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodePng, encodePng, pixelDigest, type RgbaImage } from "@tessellate/sdk";
import { compositeInBrowser } from "../lib/composite.ts";

const manifest = { output: { width: 4, height: 2, format: "png" as const }, frames: { start: 1, end: 1 }, segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 } };
/** A 2×2 tile of one colour, semi-transparent (what a canvas would alter). */
const tile = (r: number): RgbaImage => ({ width: 2, height: 2, data: new Uint8Array(Array.from({ length: 4 }, () => [r, 10, 20, 77]).flat()) });
const tiles = [tile(200), tile(30)];
const realFetch = globalThis.fetch;
afterEach(() => void (globalThis.fetch = realFetch));

function serve(files: Record<string, Uint8Array>) {
  globalThis.fetch = (async (url: string | URL) => {
    const path = String(url).replace("http://gw/ipfs/", "");
    return files[path] ? new Response(files[path] as Uint8Array<ArrayBuffer>) : new Response("not found", { status: 404 });
  }) as typeof fetch;
}

describe("compositeInBrowser", () => {
  it("stitches the accepted tiles and checks every tile's pixel digest", async () => {
    serve({ "bafyA/frame-000001.png": encodePng(tiles[0]!), "bafyB/frame-000001.png": encodePng(tiles[1]!) });
    const accepted = new Map([
      [0, { resultCid: "bafyA", digest: pixelDigest([tiles[0]!]) }],
      [1, { resultCid: "bafyB", digest: pixelDigest([tiles[1]!]) }],
    ]);
    const progress: number[] = [];
    const frames = await compositeInBrowser({ manifest, accepted, gatewayUrl: "http://gw/", onProgress: (done) => progress.push(done) });
    assert.deepEqual(progress, [1, 2]);
    assert.equal(frames.length, 1);
    const image = decodePng(frames[0]!.png);
    assert.deepEqual([...image.data.subarray(0, 8)], [200, 10, 20, 77, 200, 10, 20, 77]);
    assert.deepEqual([...image.data.subarray(8, 16)], [30, 10, 20, 77, 30, 10, 20, 77]);
  });

  it("refuses a tile whose pixels are not what the quorum accepted, naming the segment, and keeps no frame", async () => {
    serve({ "bafyA/frame-000001.png": encodePng(tiles[0]!), "bafyB/frame-000001.png": encodePng(tile(31)) });
    const accepted = new Map([
      [0, { resultCid: "bafyA", digest: pixelDigest([tiles[0]!]) }],
      [1, { resultCid: "bafyB", digest: pixelDigest([tiles[1]!]) }],
    ]);
    await assert.rejects(compositeInBrowser({ manifest, accepted, gatewayUrl: "http://gw" }), /segment 1 .*not what the quorum agreed on/);
  });
});
