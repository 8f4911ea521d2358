/**
 * `job submit` with a .blend whose textures would not reach the providers (issue 12 item 4): the
 * real binary reads the file with the real Blender and refuses before uploading anything, naming
 * each file; a folder whose textures are inside it, by relative path, passes the check.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";

const MAIN = join(import.meta.dirname, "main.ts");
const TEXTURE_SCENE = join(import.meta.dirname, "../../provider-node/src/engines/fixtures/blender/makeTextureScene.py");
const blenderMissing = spawnSync("blender", ["--version"], { stdio: "ignore" }).error !== undefined;

let root: string;

/** Builds `<folder>/scene.blend` using the given textures ({path as stored, file to create}). */
async function blendWith(folder: string, textures: Array<{ path: string; create: string }>): Promise<string> {
  await mkdir(folder, { recursive: true });
  for (const t of textures) if (t.create) await mkdir(dirname(t.create), { recursive: true });
  const spec = join(root, `${Math.random().toString(36).slice(2)}.json`);
  const out = join(folder, "scene.blend");
  await writeFile(spec, JSON.stringify({ out, textures: textures.map((t) => ({ ...t, color: [0, 1, 0] })) }));
  execFileSync("blender", ["-b", "--factory-startup", "--python-exit-code", "1", "--python", TEXTURE_SCENE, "--", spec], { stdio: "ignore", timeout: 120_000 });
  return out;
}

function submit(scene: string) {
  return spawnSync(process.execPath, [MAIN, "job", "submit", scene, "--engine", "blender", "--reward", "1", "--no-wait"], {
    encoding: "utf8",
    // Nothing listens here: getting past the scene checks ends in a connection failure, not exit 2.
    env: { ...process.env, TESSELLATE_RPC_URL: "http://127.0.0.1:9", TESSELLATE_IPFS_API_URL: "http://127.0.0.1:9", TESSELLATE_PRIVATE_KEY: `0x${"11".repeat(32)}` },
    timeout: 180_000,
  });
}

describe("job submit checks a .blend's external files before uploading", { skip: blenderMissing && "blender is not installed" }, () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "tessellate-blend-files-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("refuses a texture by absolute path, one climbing out of the folder and a missing one, naming each", async () => {
    const folder = join(root, "leaky");
    const absolute = join(root, "elsewhere", "wood.png");
    await mkdir(join(root, "elsewhere"));
    await blendWith(folder, [
      { path: "//textures/inside.png", create: join(folder, "textures", "inside.png") },
      { path: absolute, create: absolute },
      { path: "//../elsewhere/climb.png", create: join(root, "elsewhere", "climb.png") },
      { path: "//textures/gone.png", create: "" },
    ]);
    const result = submit(folder);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`scene\\.blend uses image "[^"]+" at ${absolute.replace(/[/.]/g, "\\$&")}, an absolute path that does not exist on providers`));
    assert.match(result.stderr, /at \/\/\.\.\/elsewhere\/climb\.png, outside the scene folder/);
    assert.match(result.stderr, /at \/\/textures\/gone\.png, which does not exist/);
    assert.match(result.stderr, /Pack Resources/);
    assert.doesNotMatch(result.stderr, /inside\.png/);
    assert.doesNotMatch(result.stdout + result.stderr, /upload/i);
  });

  it("refuses a single .blend whose relative texture would not be uploaded with it", async () => {
    const folder = join(root, "single");
    const blend = await blendWith(folder, [{ path: "//textures/inside.png", create: join(folder, "textures", "inside.png") }]);
    const result = submit(blend);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /outside the upload \(a single scene file is uploaded alone\)/);
  });

  it("lets a folder whose textures are inside it by relative path through the check", async () => {
    const folder = join(root, "tidy");
    await blendWith(folder, [{ path: "//textures/inside.png", create: join(folder, "textures", "inside.png") }]);
    const result = submit(folder);
    assert.notEqual(result.status, 2, result.stderr);
    assert.doesNotMatch(result.stderr, /external|uses image/);
  });
});
