/**
 * The builtin engine's JSON scene format (see SCENE_FORMAT.md): its zod schema, and loading a scene
 * file into a validated `SceneSpec`. Any number may be keyframed; `animate.ts` resolves a spec to the
 * plain `Scene` of one frame. A scene that does not validate throws `FatalError("SCENE_INVALID")`
 * with one line per problem naming its JSON path and what to fix.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { FatalError } from "../../../../sdk/src/errors.ts";

export const SCENE_VERSION = 1;

const KEYFRAMES_HINT = 'or {"keyframes": [{"frame": 1, "value": …}, …]}';

/** An error message that tells a missing value ("is required") from a wrong one. */
function expected(what: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`);
}

function number(): z.ZodNumber {
  return z.number({ error: expected("a number") });
}

/** `{ "keyframes": [{ "frame": f, "value": v }, …] }` with strictly increasing integer frames. */
function keyframes<T extends z.ZodType>(value: T) {
  return z
    .strictObject({
      keyframes: z
        .array(
          z.strictObject({
            frame: z.number({ error: expected("an integer frame number") }).int({ error: "must be an integer frame number" }),
            value,
          }),
          { error: expected("an array of {frame, value} objects") },
        )
        .min(1, { error: "needs at least one keyframe" }),
    })
    .superRefine((track, ctx) => {
      for (let i = 1; i < track.keyframes.length; i++) {
        const previous = track.keyframes[i - 1].frame;
        const current = track.keyframes[i].frame;
        if (current <= previous) {
          ctx.addIssue({
            code: "custom",
            path: ["keyframes", i, "frame"],
            message: `keyframe frames must increase strictly (frame ${current} follows frame ${previous}); sort the keyframes and remove duplicates`,
          });
        }
      }
    });
}

/** A number, or keyframes of such numbers. `what` describes the allowed plain values. */
function animatedNumber(value: z.ZodNumber, what: string) {
  return z.union([value, keyframes(value)], { error: expected(`${what}, ${KEYFRAMES_HINT}`) });
}

const anyNumber = () => animatedNumber(number(), "a number");
const positive = () => animatedNumber(number().positive({ error: "must be greater than 0" }), "a number greater than 0");
const nonNegative = () => animatedNumber(number().min(0, { error: "must be 0 or more" }), "a number, 0 or more");
const unitInterval = () =>
  animatedNumber(number().min(0, { error: "must be between 0 and 1" }).max(1, { error: "must be between 0 and 1" }), "a number between 0 and 1");

/** [x, y, z], each component a number or keyframed; or the whole vector keyframed. */
function vector<C extends z.ZodType>(component: () => C, plain: z.ZodNumber, what: string) {
  return z.union(
    [
      z.tuple([component(), component(), component()], { error: expected(what) }),
      keyframes(z.tuple([plain, plain, plain], { error: expected(what) })),
    ],
    { error: expected(`${what}, ${KEYFRAMES_HINT}`) },
  );
}

const vec3 = () => vector(anyNumber, number(), "[x, y, z] (three numbers)");
const rgb = () => vector(nonNegative, number().min(0, { error: "must be 0 or more" }), "[r, g, b] (three numbers, 0 or more)");
const size3 = () => vector(positive, number().positive({ error: "must be greater than 0" }), "[x, y, z] (three numbers greater than 0)");

const materialSchema = z.strictObject({
  /** Diffuse albedo. */
  color: rgb().default([0.8, 0.8, 0.8]),
  /** Probability of a mirror bounce instead of a diffuse one: 0 = matte, 1 = perfect mirror. */
  specular: unitInterval().default(0),
  /** Tint of the mirror reflection. */
  specularColor: rgb().default([1, 1, 1]),
  /** Emitted radiance. */
  emission: rgb().default([0, 0, 0]),
});

const MATERIAL_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const materialRef = z.union([z.string().regex(MATERIAL_NAME), materialSchema], {
  error: expected('the name of an entry of "materials", or a material object {color, specular, specularColor, emission}'),
});

const sphereSchema = z.strictObject({
  type: z.literal("sphere"),
  center: vec3(),
  radius: positive(),
  material: materialRef,
});

const planeSchema = z.strictObject({
  type: z.literal("plane"),
  point: vec3(),
  normal: vec3(),
  material: materialRef,
});

const boxSchema = z.strictObject({
  type: z.literal("box"),
  center: vec3(),
  /** Edge lengths along x, y and z. */
  size: size3(),
  material: materialRef,
});

const vertexIndex = () =>
  z
    .number({ error: expected("a vertex index (an integer from 0)") })
    .int({ error: "must be a vertex index (an integer from 0)" })
    .min(0, { error: "must be a vertex index (an integer from 0)" });

const meshSchema = z
  .strictObject({
    type: z.literal("mesh"),
    /** Translation applied to every vertex: animate it to move the mesh. */
    position: vec3().default([0, 0, 0]),
    vertices: z.array(vec3(), { error: expected("an array of [x, y, z] vertices") }).min(3, { error: "needs at least 3 vertices" }),
    indices: z
      .array(
        z.tuple(
          [
            vertexIndex(),
            vertexIndex(),
            vertexIndex(),
          ],
          { error: expected("[i, j, k]: three vertex indices (integers from 0)") },
        ),
        { error: expected("an array of [i, j, k] triangles") },
      )
      .min(1, { error: "needs at least one triangle" }),
    material: materialRef,
  })
  .superRefine((mesh, ctx) => {
    mesh.indices.forEach((triangle, i) => {
      triangle.forEach((index, j) => {
        if (index >= mesh.vertices.length) {
          ctx.addIssue({
            code: "custom",
            path: ["indices", i, j],
            message: `vertex index ${index} is out of range: the mesh has ${mesh.vertices.length} vertices (indices start at 0)`,
          });
        }
      });
    });
  });

const objectSchema = z.discriminatedUnion("type", [sphereSchema, planeSchema, boxSchema, meshSchema], {
  error: 'must have "type": "sphere", "plane", "box" or "mesh"',
});

const pointLightSchema = z.strictObject({
  type: z.literal("point"),
  position: vec3(),
  color: rgb().default([1, 1, 1]),
  /** Radiant intensity: a surface at distance d facing the light receives intensity / d². */
  intensity: nonNegative().default(1),
});

const areaLightSchema = z.strictObject({
  type: z.literal("area"),
  /** One corner of the parallelogram and its two edges from that corner. */
  corner: vec3(),
  edgeU: vec3(),
  edgeV: vec3(),
  color: rgb().default([1, 1, 1]),
  /** Emitted radiance is color × intensity. */
  intensity: nonNegative().default(1),
  /** By default only the side that edgeU × edgeV points to emits. */
  twoSided: z.boolean({ error: expected("true or false") }).default(false),
});

const lightSchema = z.discriminatedUnion("type", [pointLightSchema, areaLightSchema], {
  error: 'must have "type": "point" or "area"',
});

const cameraSchema = z
  .strictObject({
    position: vec3(),
    lookAt: vec3(),
    up: vec3().default([0, 1, 0]),
    /** tan(vertical field of view / 2): exact, preferred. */
    tanHalfFov: positive().optional(),
    /** Vertical field of view in degrees, converted with a fixed series (see camera.ts). */
    fovDegrees: animatedNumber(
      number().gt(0, { error: "must be between 0 and 179" }).max(179, { error: "must be between 0 and 179" }),
      "a number of degrees between 0 and 179",
    ).optional(),
  })
  .superRefine((camera, ctx) => {
    const given = (camera.tanHalfFov !== undefined ? 1 : 0) + (camera.fovDegrees !== undefined ? 1 : 0);
    if (given !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: 'give exactly one of "tanHalfFov" (tangent of half the vertical field of view) or "fovDegrees"',
      });
    }
  });

export const sceneSchema = z
  .strictObject({
    version: z.literal(SCENE_VERSION, { error: expected(`${SCENE_VERSION} (the scene format version)`) }),
    camera: cameraSchema,
    background: rgb().default([0, 0, 0]),
    /** Multiplies the linear radiance before tone mapping. */
    exposure: positive().default(1),
    toneMapping: z.enum(["clamp", "reinhard"], { error: expected('"clamp" or "reinhard"') }).default("clamp"),
    materials: z
      .record(z.string().regex(MATERIAL_NAME, { error: "material names are letters, digits, _ . - and start with a letter or _" }), materialSchema)
      .default({}),
    objects: z.array(objectSchema, { error: expected("an array of objects") }).default([]),
    lights: z.array(lightSchema, { error: expected("an array of lights") }).default([]),
  })
  .superRefine((scene, ctx) => {
    scene.objects.forEach((object, i) => {
      if (typeof object.material === "string" && !Object.hasOwn(scene.materials, object.material)) {
        ctx.addIssue({
          code: "custom",
          path: ["objects", i, "material"],
          message: `unknown material "${object.material}": define it under "materials" or give the material inline`,
        });
      }
    });
  });

/** A validated scene; numbers may still be keyframed (see `animate.ts`). */
export type SceneSpec = z.infer<typeof sceneSchema>;

/** `objects[2].radius` style rendering of a zod path. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (!/^[A-Za-z_$][\w$]*$/.test(String(segment))) out += `[${JSON.stringify(String(segment))}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out === "" ? "(scene root)" : out;
}

interface Problem {
  path: PropertyKey[];
  message: string;
}

/**
 * One line per problem. When no branch of a union matched, the problems of the branch that got
 * furthest into the value are reported (a keyframe track with one bad frame says which frame);
 * when every branch failed at the value itself, the union's own message lists what is allowed.
 */
function problemsOf(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const at = [...prefix, ...issue.path];
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const depth = (branch: readonly z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length));
      const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      if (depth(best) > 0) return problemsOf(best, at);
      return [{ path: at, message: issue.message }];
    }
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => `"${k}"`).join(", ");
      const one = issue.keys.length === 1;
      return [{ path: at, message: `unknown ${one ? "key" : "keys"} ${keys}: remove ${one ? "it" : "them"} or check the spelling (see SCENE_FORMAT.md)` }];
    }
    if (issue.code === "invalid_key") {
      return [{ path: at, message: `invalid name: ${issue.issues.map((i) => i.message).join("; ")}` }];
    }
    if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input:")) {
      // zod's default wording, for objects without a message of their own.
      const missing = issue.message.endsWith("received undefined");
      return [{ path: at, message: missing ? `is required (${issue.expected})` : `must be ${issue.expected === "object" ? "an" : "a"} ${issue.expected}` }];
    }
    return [{ path: at, message: issue.message }];
  });
}

const MAX_LISTED = 20;

/** Validates parsed JSON; throws FatalError("SCENE_INVALID") listing every problem by path. */
export function parseScene(json: unknown, source = "scene"): SceneSpec {
  const result = sceneSchema.safeParse(json);
  if (result.success) return result.data;
  const problems = problemsOf(result.error.issues);
  const lines = problems.slice(0, MAX_LISTED).map((problem) => `  - ${formatPath(problem.path)}: ${problem.message}`);
  const more = problems.length > MAX_LISTED ? `\n  … and ${problems.length - MAX_LISTED} more` : "";
  const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  throw new FatalError("SCENE_INVALID", `${source} is not a valid builtin scene (${count}):\n${lines.join("\n")}${more}`);
}

/** Reads `sceneDir/entry` (which must stay inside `sceneDir`), parses and validates it. */
export async function loadScene(sceneDir: string, entry: string): Promise<SceneSpec> {
  const root = path.resolve(sceneDir);
  const file = path.resolve(root, entry);
  if (file !== root && !file.startsWith(root + path.sep)) {
    throw new FatalError("SCENE_INVALID", `scene entry "${entry}" points outside the scene folder; give a path relative to the scene folder`);
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new FatalError("SCENE_INVALID", `cannot read scene entry "${entry}": ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FatalError("SCENE_INVALID", `scene entry "${entry}" is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseScene(json, `scene entry "${entry}"`);
}
