/**
 * Keyframed animation: any number (or whole vector) of a scene may be written as
 * `{ "keyframes": [{ "frame": f, "value": v }, …] }`. `resolveFrame` replaces every such track by its
 * value at one frame: linear interpolation between the surrounding keyframes, held constant before
 * the first and after the last. Only + − × ÷, so the result is bit-identical everywhere.
 */
import type { SceneSpec } from "./scene.ts";

export interface Keyframe<V> {
  frame: number;
  value: V;
}

/** A spec type with every keyframe track replaced by its value type. */
export type Resolved<T> = T extends { keyframes: ReadonlyArray<Keyframe<infer V>> }
  ? Resolved<V>
  : T extends readonly unknown[]
    ? { [K in keyof T]: Resolved<T[K]> }
    : T extends object
      ? { [K in keyof T]: Resolved<T[K]> }
      : T;

/** The scene of one frame: plain numbers everywhere. */
export type Scene = Resolved<SceneSpec>;

type Value = number | readonly number[];

function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

/** The value of a track at `frame`. Keyframes are validated: non-empty, frames strictly increasing. */
export function valueAt(keys: ReadonlyArray<Keyframe<Value>>, frame: number): Value {
  const first = keys[0];
  const last = keys[keys.length - 1];
  if (frame <= first.frame) return first.value;
  if (frame >= last.frame) return last.value;
  let i = 0;
  while (keys[i + 1].frame <= frame) i++;
  const a = keys[i];
  const b = keys[i + 1];
  if (frame === a.frame) return a.value;
  const t = (frame - a.frame) / (b.frame - a.frame);
  if (typeof a.value === "number") return lerp(a.value, b.value as number, t);
  const to = b.value as readonly number[];
  return a.value.map((v, k) => lerp(v, to[k], t));
}

function isTrack(node: object): node is { keyframes: Array<Keyframe<Value>> } {
  return Object.hasOwn(node, "keyframes") && Array.isArray((node as { keyframes: unknown }).keyframes);
}

function resolveNode(node: unknown, frame: number): unknown {
  if (Array.isArray(node)) return node.map((item) => resolveNode(item, frame));
  if (node !== null && typeof node === "object") {
    if (isTrack(node)) return valueAt(node.keyframes, frame);
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = resolveNode(value, frame);
    return out;
  }
  return node;
}

/** The scene at `frame`, with every keyframe track replaced by its interpolated value. */
export function resolveFrame(spec: SceneSpec, frame: number): Scene {
  return resolveNode(spec, frame) as Scene;
}

/** Whether any value of the spec is keyframed (an animated scene). */
export function isAnimated(spec: SceneSpec): boolean {
  const visit = (node: unknown): boolean => {
    if (Array.isArray(node)) return node.some(visit);
    if (node !== null && typeof node === "object") return isTrack(node) || Object.values(node).some(visit);
    return false;
  };
  return visit(spec);
}
