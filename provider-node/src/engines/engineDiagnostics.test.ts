import assert from "node:assert/strict";
import { test } from "node:test";
import { blenderDiagnostics, MAX_DIAGNOSTIC_LINES, povrayDiagnostics } from "./engineDiagnostics.ts";

const feed = (collector: ReturnType<typeof povrayDiagnostics>, lines: string[]) => {
  for (const line of lines) collector.push(line);
  return collector;
};

test("POV-Ray: wrapped messages are joined, Parse Error beats Possible Parse Error and Fatal error, the scene path is dropped", () => {
  // As POV-Ray prints it (at most 80 columns, wrapped at a space).
  const collector = feed(povrayDiagnostics("/d"), [
    "==== [Parsing...] ==========================================================",
    "File '/d/s.pov' line 1: Possible Parse Error: Cannot find file 'drums.inc',",
    " even after trying to append file type extension.",
    "File '/d/s.pov' line 1: Parse Error: Cannot open include file drums.inc.",
    "Fatal error in parser: Cannot parse input.",
    "Render failed",
  ]);
  assert.equal(collector.summary(), "File 's.pov' line 1: Parse Error: Cannot open include file drums.inc.");
  assert.deepEqual(collector.lines(), [
    "File 's.pov' line 1: Possible Parse Error: Cannot find file 'drums.inc', even after trying to append file type extension.",
    "File 's.pov' line 1: Parse Error: Cannot open include file drums.inc.",
    "Fatal error in parser: Cannot parse input.",
  ]);
});

test("POV-Ray: a missing image is named by its Possible Parse Error lines; statistics lines are not continuations", () => {
  const collector = feed(povrayDiagnostics("/s"), [
    "File '/s/t.pov' line 2: Possible Parse Error: Cannot find file 'tex.png', even",
    " after trying to append file type extension.",
    "File '/s/t.pov' line 2: Possible Parse Error: Cannot find image file.",
    "  Parse Time:       0 hours  0 minutes  0 seconds (0.000 seconds)",
    "Fatal error in parser: Cannot open file.",
  ]);
  assert.equal(
    collector.summary(),
    "File 't.pov' line 2: Possible Parse Error: Cannot find file 'tex.png', even after trying to append file type extension.; File 't.pov' line 2: Possible Parse Error: Cannot find image file.",
  );
});

test("POV-Ray: a long path broken inside the word at 80 columns is joined without a space", () => {
  const dir = "/work/wt/engines/provider-node/src/engines/fixtures/povray/missingInclude";
  const collector = feed(povrayDiagnostics(dir), [
    `File '${dir}/`,
    "scene.pov' line 4: Parse Error: Cannot open include file drums.inc.",
    "Fatal error in parser: Cannot parse input.",
  ]);
  assert.equal(`File '${dir}/`.length, 80);
  assert.equal(collector.summary(), "File 'scene.pov' line 4: Parse Error: Cannot open include file drums.inc.");
});

test("no error line, no summary; at most MAX_DIAGNOSTIC_LINES kept", () => {
  assert.equal(feed(povrayDiagnostics("/s"), ["POV-Ray finished", "Render failed"]).summary(), undefined);
  const many = feed(blenderDiagnostics(), Array.from({ length: 50 }, (_, i) => `Error: number ${i}`));
  assert.equal(many.lines().length, MAX_DIAGNOSTIC_LINES);
  assert.equal(many.summary(), "Error: number 0; Error: number 1");
});

test("Blender: our script's refusals and Blender's Error lines beat Python exceptions", () => {
  const collector = feed(blenderDiagnostics(), [
    "Read blend: /s/scene.blend",
    "KeyError: 'bpy_prop_collection[key]: key \"x\" not found'",
    "tessellate: the scene has no active camera",
    "Error: Not freed memory blocks: 1, total unfreed memory 0.000 MB",
    "Blender quit",
  ]);
  assert.equal(collector.summary(), "tessellate: the scene has no active camera");
  assert.equal(feed(blenderDiagnostics(), ["Traceback (most recent call last):", "KeyError: 'x'"]).summary(), "KeyError: 'x'");
});
