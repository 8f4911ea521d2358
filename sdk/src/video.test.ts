import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resultFileName } from "./resultFiles.ts";
import { encodePng } from "./png.ts";
import { assembleVideo, detectFfmpeg, listFrames } from "./video.ts";

const ffmpegVersion = await detectFfmpeg();
const posix = process.platform !== "win32";

let dir = "";

async function writeFrames(folder: string, frames: number[]): Promise<void> {
  for (const frame of frames) {
    const data = new Uint8Array(5 * 3 * 4).fill(frame * 20);
    await writeFile(join(folder, resultFileName(frame)), encodePng({ width: 5, height: 3, data }));
  }
}

/** A stand-in for ffmpeg that records its arguments, so the command line is tested without ffmpeg. */
async function fakeFfmpeg(name: string, exitCode: number): Promise<string> {
  const path = join(dir, name);
  const argsFile = `${path}.args`;
  await writeFile(
    path,
    `#!/bin/sh\nif [ "$1" = "-version" ]; then echo "ffmpeg version 0.0-fake"; exit 0; fi\n` +
      `printf '%s\\n' "$@" > '${argsFile}'\necho 'Error: something broke' >&2\nexit ${exitCode}\n`,
  );
  await chmod(path, 0o755);
  return path;
}

describe("assembleVideo", () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-video-"));
    await writeFrames(dir, [10, 11, 12]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("finds consecutive frames and refuses gaps", async () => {
    assert.deepEqual(await listFrames(dir), { first: 10, count: 3 });
    const gappy = await mkdtemp(join(tmpdir(), "tessellate-video-gap-"));
    try {
      await assert.rejects(listFrames(gappy), { code: "VIDEO_NO_FRAMES" });
      await writeFrames(gappy, [0, 2]);
      await assert.rejects(listFrames(gappy), { code: "VIDEO_FRAME_GAP", message: /frame 0 then 2/ });
    } finally {
      await rm(gappy, { recursive: true, force: true });
    }
  });

  it("says so, without throwing, when ffmpeg is not installed", async () => {
    const result = await assembleVideo({ framesDir: dir, fps: 24, outPath: join(dir, "out.mp4"), ffmpegPath: join(dir, "no-such-ffmpeg") });
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.reason, "ffmpeg-missing");
      assert.match(result.message, /install ffmpeg/);
    }
  });

  it("rejects a frame rate that is not one", async () => {
    await assert.rejects(assembleVideo({ framesDir: dir, fps: 0, outPath: join(dir, "out.mp4") }), { code: "VIDEO_FPS_INVALID" });
  });

  it("passes the first frame, frame count, rate and codec to ffmpeg", { skip: !posix && "needs a POSIX shell for the fake ffmpeg" }, async () => {
    const ffmpegPath = await fakeFfmpeg("ffmpeg-ok", 0);
    const outPath = join(dir, "clip.webm");
    const result = await assembleVideo({ framesDir: dir, fps: 30, outPath, ffmpegPath });
    assert.deepEqual(result, { ok: true, outPath, frameCount: 3, firstFrame: 10, ffmpegVersion: "ffmpeg version 0.0-fake" });
    const args = (await readFile(`${ffmpegPath}.args`, "utf8")).trim().split("\n");
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(after("-framerate"), "30");
    assert.equal(after("-start_number"), "10");
    assert.equal(after("-frames:v"), "3");
    assert.equal(after("-i"), join(dir, "frame-%06d.png"));
    assert.equal(after("-c:v"), "libvpx-vp9");
    assert.equal(args.at(-1), outPath);
  });

  it("reports ffmpeg's own error when encoding fails", { skip: !posix && "needs a POSIX shell for the fake ffmpeg" }, async () => {
    const ffmpegPath = await fakeFfmpeg("ffmpeg-fails", 1);
    await assert.rejects(assembleVideo({ framesDir: dir, fps: 24, outPath: join(dir, "x.mp4"), ffmpegPath }), {
      code: "VIDEO_FFMPEG_FAILED",
      message: /exited with 1: Error: something broke/,
    });
  });

  it("encodes an H.264 video with the real ffmpeg", { skip: !ffmpegVersion && "ffmpeg is not on PATH: install it to run this test" }, async () => {
    const outPath = join(dir, "clip.mp4");
    const result = await assembleVideo({ framesDir: dir, fps: 24, outPath });
    assert.equal(result.ok, true);
    assert.ok((await stat(outPath)).size > 0);
  });
});
