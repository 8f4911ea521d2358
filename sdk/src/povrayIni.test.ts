import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { test } from "node:test";
import { parsePovrayIni } from "./povrayIni.ts";

const CAMERA2_INI = "/usr/share/doc/povray/examples/animations/camera2/camera2.ini";

test("camera2.ini as Debian ships it: 30 frames, clock 0–1, cyclic, anti-aliased", { skip: !existsSync(CAMERA2_INI) && "apt-get install povray-examples" }, () => {
  const ini = parsePovrayIni(readFileSync(CAMERA2_INI, "utf8"));
  assert.deepEqual(ini.frames, { start: 1, end: 30 });
  assert.deepEqual(ini.settings, { initialClock: 0, finalClock: 1, cyclic: true, antialias: true });
  assert.equal(ini.inputFile, "camera2.pov");
  assert.deepEqual(ini.refused, []);
  assert.deepEqual(ini.problems, []);
});

test("options, switches, comments, booleans and the unnamed section only", () => {
  const ini = parsePovrayIni(
    [
      "; a comment",
      "Width=640 ; trailing comment",
      "+H480",
      "initial_frame = 5",
      "Final_Frame=9",
      "+KI0.5",
      "Final_Clock=2",
      "-A",
      "Quality=4",
      'Output_File_Name="out;put.png"',
      "Pause_When_Done=off",
      "[hires]",
      "Width=4000",
    ].join("\r\n"),
  );
  assert.equal(ini.width, 640);
  assert.equal(ini.height, 480);
  assert.deepEqual(ini.frames, { start: 5, end: 9 });
  assert.deepEqual(ini.settings, { initialClock: 0.5, finalClock: 2, antialias: false, quality: 4 });
  assert.ok(ini.ignored.includes("output_file_name=out;put.png"), ini.ignored.join(", "));
  assert.ok(ini.ignored.includes("pause_when_done=off"));
});

test("an animation without clocks gets POV-Ray's 0–1; a single frame renders at Clock", () => {
  assert.deepEqual(parsePovrayIni("Initial_Frame=1\nFinal_Frame=3\n").settings, { initialClock: 0, finalClock: 1 });
  const still = parsePovrayIni("Clock=0.25\n");
  assert.equal(still.frames, undefined);
  assert.deepEqual(still.settings, { initialClock: 0.25 });
});

test("options a job cannot reproduce are refused, bad values are problems", () => {
  const ini = parsePovrayIni("Subset_Start_Frame=3\nDeclare=Foo=1\nLibrary_Path=../inc\nWidth=wide\nCyclic_Animation=maybe\n");
  assert.equal(ini.refused.length, 3);
  assert.match(ini.refused[0]!, /^subset_start_frame=3: renders only part of the animation/);
  assert.match(ini.refused[1]!, /^declare=Foo=1: declares identifiers/);
  assert.deepEqual(ini.problems, ["line 4: width=wide is not a whole number from 1 to 1000000", "line 5: cyclic_animation=maybe is not on or off"]);
});
