/**
 * Three-component vectors for scene set-up (camera frame, compiling the scene). The hot loops in
 * `intersect.ts` and `shade.ts` work on scalars instead, so they allocate nothing per ray.
 * Every operation here is IEEE-exact (+ − × ÷ and Math.sqrt), so results are identical everywhere.
 */
export type Vec3 = readonly [number, number, number];

export function add(a: Vec3, b: Vec3): Vec3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

export function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

export function scale(a: Vec3, s: number): Vec3 {
  return [a[0] * s, a[1] * s, a[2] * s];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function length(a: Vec3): number {
  return Math.sqrt(dot(a, a));
}

/** The unit vector along `a`, or null when `a` has no usable length. */
export function normalize(a: Vec3): Vec3 | null {
  const len = length(a);
  return len > 1e-12 && Number.isFinite(len) ? [a[0] / len, a[1] / len, a[2] / len] : null;
}
