/**
 * Reads a POV-Ray INI file (the render settings a scene ships with, e.g. an animation's frames
 * and clock) into what a Tessellate job can take from it: the image size, the frame range and
 * the manifest's POV-Ray settings. Pure (text in, values out), so browser code may use it too;
 * the CLI reads the file.
 *
 * What is read (POV-Ray 3.7 option names, case-insensitive, or their `+`/`-` switches):
 * `Width`/`+W`, `Height`/`+H`, `Initial_Frame`/`+KFI`, `Final_Frame`/`+KFF`,
 * `Initial_Clock`/`+KI`, `Final_Clock`/`+KF`, `Clock`/`+K` (a single frame's clock),
 * `Cyclic_Animation`/`+KC`, `Antialias`/`+A`, `Quality`/`+Q`. Only the INI's unnamed first
 * section is read (named sections are alternatives chosen with `file.ini[section]`).
 *
 * What cannot be honoured is reported, never silently dropped: `refused` for options that change
 * which frames or pixels are rendered in a way a job cannot reproduce (`Subset_Start_Frame`,
 * `Declare`, `Library_Path`, ...); `ignored` for options with no effect on the pixels a provider
 * renders (`Pause_When_Done`, `Output_File_Type`, display and statistics options) or that a job
 * sets itself (`Input_File_Name`, `Output_File_Name`). Anti-aliasing is read but it is up to the
 * caller to honour it (exact verification renders without it).
 */

export interface PovrayIniSettings {
  /** Image size, when the INI sets one. */
  width?: number;
  height?: number;
  /** The animation's frames, when the INI sets any (both ends filled in with POV-Ray's default 1). */
  frames?: { start: number; end: number };
  /** Manifest settings the INI sets (keys of the sdk's POV-Ray settings schema). */
  settings: { initialClock?: number; finalClock?: number; cyclic?: boolean; antialias?: boolean; quality?: number };
  /** The scene file the INI names (`Input_File_Name`), if any. */
  inputFile?: string;
  /** `name=value` of each option read into the above, as written. */
  read: string[];
  /** Options that change the render in a way a job cannot reproduce: `name: why`. */
  refused: string[];
  /** Options without effect on a provider's pixels, or that the job sets itself. */
  ignored: string[];
  /** Problems with values (not a number, ...): `line N: ...`. */
  problems: string[];
}

const BOOLEAN_TRUE = new Set(["on", "true", "yes", "1"]);
const BOOLEAN_FALSE = new Set(["off", "false", "no", "0"]);

/** Options that change the pixels or frames in a way a job cannot reproduce, and why. */
const REFUSED: Record<string, string> = {
  subset_start_frame: "renders only part of the animation: give the frames with --frames instead",
  subset_end_frame: "renders only part of the animation: give the frames with --frames instead",
  frame_step: "skips frames, which a job cannot",
  declare: "declares identifiers the providers would not declare: put them in the scene file",
  library_path: "adds include folders the providers do not have: put the files in the scene folder",
  include_ini: "reads another INI file: merge its options into this one",
  start_column: "renders part of the frame: jobs always render the whole frame",
  end_column: "renders part of the frame: jobs always render the whole frame",
  start_row: "renders part of the frame: jobs always render the whole frame",
  end_row: "renders part of the frame: jobs always render the whole frame",
  output_alpha: "an alpha channel: job results have none",
  bits_per_color: "job results are 8 bits per channel",
  jitter: "jittered anti-aliasing differs on every render",
  field_render: "field rendering is not supported",
  odd_field: "field rendering is not supported",
  radiosity_file_name: "radiosity files are not shared between providers",
  radiosity_from_file: "radiosity files are not shared between providers",
  radiosity_to_file: "radiosity files are not shared between providers",
  pre_scene_command: "shell-outs are forbidden on providers",
  post_scene_command: "shell-outs are forbidden on providers",
  pre_frame_command: "shell-outs are forbidden on providers",
  post_frame_command: "shell-outs are forbidden on providers",
};

/** Options read by {@link parsePovrayIni}. */
const READ = new Set(["width", "height", "initial_frame", "final_frame", "initial_clock", "final_clock", "clock", "cyclic_animation", "antialias", "quality"]);

/** Switches (`+W320`, `-A`, `+KC`) → option names, longest prefix first. */
const SWITCHES: Array<[string, string]> = [
  ["kfi", "initial_frame"],
  ["kff", "final_frame"],
  ["ki", "initial_clock"],
  ["kf", "final_clock"],
  ["kc", "cyclic_animation"],
  ["k", "clock"],
  ["w", "width"],
  ["h", "height"],
  ["a", "antialias"],
  ["q", "quality"],
];

/** Reads the text of a POV-Ray INI file. */
export function parsePovrayIni(text: string): PovrayIniSettings {
  const result: PovrayIniSettings = { settings: {}, read: [], refused: [], ignored: [], problems: [] };
  const values = new Map<string, { raw: string; line: number }>();
  const lines = text.split(/\r\n|\r|\n/);
  for (const [index, original] of lines.entries()) {
    const line = stripComment(original).trim();
    if (line === "") continue;
    if (line.startsWith("[")) break; // named sections: alternatives, not read
    let name: string;
    let raw: string;
    const option = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (option) {
      name = option[1]!.toLowerCase();
      raw = option[2]!.trim().replace(/^"(.*)"$/, "$1");
    } else if (/^[+-]/.test(line)) {
      const sign = line[0]!;
      const body = line.slice(1);
      const match = SWITCHES.find(([prefix]) => body.toLowerCase().startsWith(prefix));
      if (!match) {
        result.ignored.push(line);
        continue;
      }
      name = match[1];
      const rest = body.slice(match[0].length);
      raw = rest === "" ? (sign === "+" ? "on" : "off") : sign === "-" && (name === "antialias" || name === "cyclic_animation") ? "off" : rest;
    } else {
      // A bare file name is POV-Ray's input file.
      name = "input_file_name";
      raw = line.replace(/^"(.*)"$/, "$1");
    }
    if (name === "input_file_name") {
      result.inputFile = raw;
      result.ignored.push(`${name}=${raw}`);
    } else if (REFUSED[name] !== undefined) {
      result.refused.push(`${name}=${raw}: ${REFUSED[name]}`);
    } else if (READ.has(name)) {
      values.set(name, { raw, line: index + 1 });
    } else {
      result.ignored.push(`${name}=${raw}`);
    }
  }

  const integer = (name: string, min: number, max: number): number | undefined => {
    const value = values.get(name);
    if (value === undefined) return undefined;
    const n = Number(value.raw);
    if (!/^-?\d+$/.test(value.raw) || n < min || n > max) {
      result.problems.push(`line ${value.line}: ${name}=${value.raw} is not a whole number from ${min} to ${max}`);
      return undefined;
    }
    result.read.push(`${name}=${value.raw}`);
    return n;
  };
  const number = (name: string): number | undefined => {
    const value = values.get(name);
    if (value === undefined) return undefined;
    const n = Number(value.raw);
    if (value.raw === "" || !Number.isFinite(n)) {
      result.problems.push(`line ${value.line}: ${name}=${value.raw} is not a number`);
      return undefined;
    }
    result.read.push(`${name}=${value.raw}`);
    return n;
  };
  const boolean = (name: string): boolean | undefined => {
    const value = values.get(name);
    if (value === undefined) return undefined;
    const word = value.raw.toLowerCase();
    if (!BOOLEAN_TRUE.has(word) && !BOOLEAN_FALSE.has(word)) {
      result.problems.push(`line ${value.line}: ${name}=${value.raw} is not on or off`);
      return undefined;
    }
    result.read.push(`${name}=${value.raw}`);
    return BOOLEAN_TRUE.has(word);
  };

  const width = integer("width", 1, 1_000_000);
  const height = integer("height", 1, 1_000_000);
  if (width !== undefined) result.width = width;
  if (height !== undefined) result.height = height;
  const first = integer("initial_frame", 0, 999_999_999);
  const last = integer("final_frame", 0, 999_999_999);
  if (first !== undefined || last !== undefined) result.frames = { start: first ?? 1, end: last ?? 1 };
  const animated = result.frames !== undefined && result.frames.end > result.frames.start;
  const initialClock = number("initial_clock");
  const finalClock = number("final_clock");
  const clock = number("clock");
  if (animated) {
    // POV-Ray's defaults for an animation: clock 0 to 1.
    result.settings.initialClock = initialClock ?? 0;
    result.settings.finalClock = finalClock ?? 1;
    if (clock !== undefined) result.ignored.push(`clock=${clock} (an animation's clock comes from Initial_Clock and Final_Clock)`);
  } else if (clock !== undefined || initialClock !== undefined) {
    // One frame renders at Clock (Initial_Clock when only that is given).
    result.settings.initialClock = (clock ?? initialClock)!;
  }
  const cyclic = boolean("cyclic_animation");
  if (cyclic !== undefined) result.settings.cyclic = cyclic;
  const antialias = boolean("antialias");
  if (antialias !== undefined) result.settings.antialias = antialias;
  const quality = integer("quality", 0, 11);
  if (quality !== undefined) result.settings.quality = quality;
  return result;
}

/** Removes a `;` comment (not one inside double quotes). */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') quoted = !quoted;
    else if (line[i] === ";" && !quoted) return line.slice(0, i);
  }
  return line;
}
