/**
 * Attack tests: a hostile requester's scene tries to put the provider's secrets, or anything of
 * the host, into the rendered image (issue 7, items 1 and 2). Each renders through the real
 * adapter in the real sandbox and checks the pixels, with a control showing the same scene does
 * draw what it can reach (a file inside its own scene folder, or the host without isolation).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createBlenderEngine } from "../engines/blender/index.ts";
import type { RgbaImage } from "../engines/crop.ts";
import type { Engine, RenderRequest } from "../engines/engine.ts";
import { fixturePath, pixels, samePixels, testLimits } from "../engines/fixtures/engineTesting.ts";
import { createPovrayEngine } from "../engines/povray/index.ts";
import { EngineError } from "./engineError.ts";
import { runSandboxed, withWorkDir } from "./sandbox.ts";

const execFileAsync = promisify(execFile);
const quiet = { warn: () => {} };
const SECRET = "0xSECRET-KEY-4242";

/** A provider's data folder as the node lays it out: the key, the state file, the scene cache, the work root. */
interface Provider {
  root: string;
  dataDir: string;
  keyFile: string;
  /** This job's scene folder, inside the scene cache. */
  sceneDir: string;
  /** Another job's scene. */
  otherSceneFile: string;
  workRoot: string;
  /** A file in the host's /tmp, outside the data folder. */
  hostTmpFile: string;
}

async function provider(): Promise<Provider> {
  const root = await mkdtemp(join(tmpdir(), "tessellate-exfiltration-"));
  const dataDir = join(root, "provider-data");
  const sceneDir = join(dataDir, "scenes", "job");
  const otherScene = join(dataDir, "scenes", "other-job");
  for (const dir of [sceneDir, otherScene]) await mkdir(dir, { recursive: true });
  const keyFile = join(dataDir, "provider.key");
  // Written the way POV-Ray's #read accepts it, so the attack has its best chance.
  await writeFile(keyFile, `"${SECRET}",\n`);
  await writeFile(join(dataDir, "provider.sqlite"), "state\n");
  await writeFile(join(otherScene, "scene.pov"), "// another requester's scene\n");
  const hostTmpFile = join(root, "host-tmp-secret.txt");
  await writeFile(hostTmpFile, "host\n");
  return { root, dataDir, keyFile, sceneDir, otherSceneFile: join(otherScene, "scene.pov"), workRoot: join(dataDir, "engine-work"), hostTmpFile };
}

function request(p: Provider, width: number, height: number, entry: string, settings: Record<string, unknown>, out: string): RenderRequest {
  return {
    sceneDir: p.sceneDir,
    entry,
    width,
    height,
    rect: { x: 0, y: 0, width, height },
    frame: 1,
    frames: { start: 1, end: 1 },
    settings,
    outPath: join(p.root, out),
    limits: testLimits,
  };
}

function pixelAt(image: RgbaImage, x: number, y: number): [number, number, number] {
  const i = (y * image.width + x) * 4;
  return [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
}

function near(actual: [number, number, number], expected: [number, number, number], what: string): void {
  assert.ok(actual.every((value, i) => Math.abs(value - expected[i]!) <= 8), `${what}: got rgb(${actual.join(", ")}), expected rgb(${expected.join(", ")})`);
}

describe("a POV-Ray scene cannot read the host", () => {
  let p: Provider;
  let engine: Engine;
  before(async () => {
    p = await provider();
    engine = createPovrayEngine({ sandbox: { workRoot: p.workRoot } });
  });
  after(() => rm(p.root, { recursive: true, force: true }));

  /** A scene that #reads `path` when it exists and writes what it read into the image with text{}. */
  const stealScene = (path: string) => `#version 3.7;
global_settings { assumed_gamma 1.0 }
camera { orthographic location <0, 0, -10> look_at 0 right x * 8 up y * 2 }
background { color rgb 0 }
#declare Stolen = "";
#if (file_exists("${path}"))
  #fopen Secret "${path}" read
  #read (Secret, Stolen)
  #fclose Secret
#end
text { ttf "timrom.ttf" concat("[", Stolen, "]") 0.1, 0 pigment { color rgb 1 } finish { ambient 1 diffuse 0 } translate <-3.9, -0.3, 0> }
`;

  async function renderScene(name: string, source: string, on: Engine = engine): Promise<RgbaImage> {
    await writeFile(join(p.sceneDir, `${name}.pov`), source);
    await on.render(request(p, 160, 40, `${name}.pov`, { quality: 9 }, `${name}.png`));
    return pixels(join(p.root, `${name}.png`));
  }

  test("#fopen/#read of the provider's key draws nothing: the image equals the one of a missing file", async () => {
    const stolen = await renderScene("steal-key", stealScene(p.keyFile));
    const missing = await renderScene("steal-missing", stealScene(join(p.dataDir, "no-such-file")));
    assert.ok(samePixels(stolen, missing), "the image shows something of the provider's key");
    // Control: the same scene draws a file it may read (a copy of the key inside its own folder).
    await copyFile(p.keyFile, join(p.sceneDir, "key-copy.txt"));
    const readable = await renderScene("steal-own", stealScene(join(p.sceneDir, "key-copy.txt")));
    assert.ok(!samePixels(readable, missing), "the scene's text{} does not show what it reads");
  });

  test("file_exists() probes of host paths all answer absent", async () => {
    const probes = [
      join(p.sceneDir, "probe.pov"), // control: the scene itself exists
      p.keyFile,
      join(p.dataDir, "provider.sqlite"),
      p.otherSceneFile,
      p.hostTmpFile,
      "/etc/passwd",
      "/etc/hostname",
      "/root",
      "/home",
      "/var",
      fixturePath("povray", "scene", "scene.pov"),
    ];
    // One column per probe: red where the file exists, blue where it does not.
    const scene = `#version 3.7;
global_settings { assumed_gamma 1.0 }
camera { orthographic location <${probes.length / 2}, 0.5, -10> look_at <${probes.length / 2}, 0.5, 0> right x * ${probes.length} up y }
${probes
  .map((path, i) => {
    const exists = `file_exists("${path}")`;
    return `box { <${i}, 0, 0>, <${i + 1}, 1, 1> pigment { color rgb <${exists}, 0, 1 - ${exists}> } finish { ambient 1 diffuse 0 } }`;
  })
  .join("\n")}
`;
    const width = probes.length * 4;
    await writeFile(join(p.sceneDir, "probe.pov"), scene);
    const render = async (on: Engine, out: string) => {
      await on.render({ ...request(p, width, 4, "probe.pov", { quality: 9 }, out) });
      const image = await pixels(join(p.root, out));
      return probes.map((_, i) => pixelAt(image, i * 4 + 2, 2));
    };
    const sandboxed = await render(engine, "probe.png");
    near(sandboxed[0]!, [255, 0, 0], `probe of the scene itself (${probes[0]})`);
    for (let i = 1; i < probes.length; i++) near(sandboxed[i]!, [0, 0, 255], `probe of ${probes[i]}`);
    // Control: without isolation the same scene sees every one of these paths.
    const open = await render(createPovrayEngine({ sandbox: { isolation: "none", workRoot: p.workRoot }, logger: quiet }), "probe-open.png");
    for (let i = 0; i < probes.length; i++) near(open[i]!, [255, 0, 0], `unisolated probe of ${probes[i]}`);
    // And the engine's own view of the file system lacks them.
    const view = await withWorkDir(
      "view",
      (workDir) =>
        runSandboxed({
          command: "sh",
          args: ["-c", `${probes.map((path) => `[ -e '${path}' ] && echo '${path}'`).join("; ")}; true`],
          readOnlyDirs: [p.sceneDir],
          workDir,
          threads: 1,
          memoryBytes: 1024 ** 3,
          timeoutMs: 10_000,
        }),
      p.workRoot,
    );
    assert.equal(view.stdoutTail, probes[0]);
  });

  test("#include of /etc/passwd fails without showing a line of it", async () => {
    await writeFile(join(p.sceneDir, "include.pov"), '#version 3.7;\n#include "/etc/passwd"\n');
    const error = await engine.render(request(p, 8, 8, "include.pov", {}, "include.png")).then(
      () => assert.fail("rendered"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof EngineError);
    const said = [error.message, ...error.lastLines].join("\n");
    assert.match(said, /Cannot open include file/i);
    assert.doesNotMatch(said, /root:|nobody:|undeclared identifier 'root'/);
  });
});

describe("a Blender scene cannot load textures from outside its folder", () => {
  let p: Provider;
  let systemImage: string;
  before(async () => {
    p = await provider();
    // An image elsewhere on the host, outside every path the sandbox binds.
    systemImage = join("/var/tmp", `tessellate-exfiltration-${process.pid}.png`);
  });
  after(async () => {
    await rm(p.root, { recursive: true, force: true });
    await rm(systemImage, { force: true });
  });

  test("absolute, climbing and system paths are invisible to Blender, which refuses the scene; the scene's own texture loads", async () => {
    const secretImage = join(p.dataDir, "secret.png");
    const inside = { path: "//textures/inside.png", create: join(p.sceneDir, "textures", "inside.png"), color: [0, 1, 0] };
    const outside = [
      { path: secretImage, create: secretImage, color: [1, 1, 0] },
      { path: "//../../secret-climb.png", create: join(p.dataDir, "secret-climb.png"), color: [0, 1, 1] },
      { path: systemImage, create: systemImage, color: [1, 1, 1] },
    ];
    await mkdir(join(p.sceneDir, "textures"));
    const build = async (name: string, textures: typeof outside) => {
      const spec = join(p.root, `${name}.json`);
      await writeFile(spec, JSON.stringify({ out: join(p.sceneDir, `${name}.blend`), textures }));
      await execFileAsync("blender", ["-b", "--factory-startup", "--python-exit-code", "1", "--python", fixturePath("blender", "makeTextureScene.py"), "--", spec], {
        timeout: 120_000,
      });
    };
    await build("own", [inside]);
    await build("stealing", [inside, ...outside]);
    const settings = { samples: 1, seed: 0 };
    const render = async (engine: Engine, entry: string, width: number, out: string) => {
      await engine.render(request(p, width, 16, entry, settings, out));
      const image = await pixels(join(p.root, out));
      return Array.from({ length: width / 16 }, (_, i) => pixelAt(image, i * 16 + 8, 8));
    };
    const sandboxedEngine = createBlenderEngine({ sandbox: { workRoot: p.workRoot } });
    near((await render(sandboxedEngine, "own.blend", 16, "own.png"))[0]!, [0, 255, 0], "the texture inside the scene folder");
    // Inside the sandbox the outside files do not exist: the render is refused, naming each one,
    // rather than delivering magenta squares that redundant replicas would agree on.
    await assert.rejects(
      render(sandboxedEngine, "stealing.blend", 16 * 4, "stealing.png"),
      (error: Error) => {
        assert.match(error.message, /the scene uses 3 external file\(s\) that are not in the scene folder/);
        for (const texture of outside) assert.ok(error.message.includes(texture.path), `${texture.path} named in: ${error.message}`);
        assert.doesNotMatch(error.message, /inside\.png/);
        return true;
      },
    );
    assert.equal(existsSync(join(p.root, "stealing.png")), false);
    // Control: without isolation Blender sees (and loads) every one of them.
    const open = await render(createBlenderEngine({ sandbox: { isolation: "none", workRoot: p.workRoot }, logger: quiet }), "stealing.blend", 16 * 4, "textures-open.png");
    [inside, ...outside].forEach((texture, i) => near(open[i]!, texture.color.map((c) => c * 255) as [number, number, number], `unisolated ${texture.path}`));
  });
});
