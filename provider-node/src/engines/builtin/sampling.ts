/**
 * Direction sampling without trigonometry: a point of the unit disk by rejection, lifted onto the
 * hemisphere (Malley's method) gives cosine-weighted directions. The number of tries is bounded
 * and the fallback is fixed, so the sequence of random numbers consumed is deterministic.
 */
import type { Rng } from "./rng.ts";

/** After this many rejected points the sample falls back to the disk centre (the normal). */
export const MAX_DISK_TRIES = 16;

/** A mutable direction, reused across calls so the hot loop allocates nothing. */
export interface MutableVec {
  x: number;
  y: number;
  z: number;
}

/**
 * Writes into `out` a cosine-weighted direction in the hemisphere around the unit normal (nx, ny, nz).
 * The tangent frame is the branchless orthonormal basis of Duff et al. (2017).
 */
export function cosineHemisphere(rng: Rng, nx: number, ny: number, nz: number, out: MutableVec): void {
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < MAX_DISK_TRIES; i++) {
    const u = 2 * rng.next() - 1;
    const v = 2 * rng.next() - 1;
    if (u * u + v * v < 1) {
      dx = u;
      dy = v;
      break;
    }
  }
  const dz = Math.sqrt(Math.max(0, 1 - dx * dx - dy * dy));
  const sign = nz >= 0 ? 1 : -1;
  const a = -1 / (sign + nz);
  const b = nx * ny * a;
  // Tangent t = (1 + s·nx²·a, s·b, −s·nx), bitangent = (b, s + ny²·a, −ny).
  const tx = 1 + sign * nx * nx * a;
  const ty = sign * b;
  const tz = -sign * nx;
  const bx = b;
  const by = sign + ny * ny * a;
  const bz = -ny;
  const x = tx * dx + bx * dy + nx * dz;
  const y = ty * dx + by * dy + ny * dz;
  const z = tz * dx + bz * dy + nz * dz;
  const len = Math.sqrt(x * x + y * y + z * z);
  out.x = x / len;
  out.y = y / len;
  out.z = z / len;
}
