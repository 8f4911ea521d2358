/**
 * Linear radiance → 8-bit display value, with exact operations only: exposure, an optional
 * Reinhard curve x / (1 + x), clamping, and gamma 2.0 as a square root.
 */
export type ToneMapping = "clamp" | "reinhard";

export function toByte(linear: number, exposure: number, toneMapping: ToneMapping): number {
  let v = linear * exposure;
  if (!(v > 0)) return 0; // also maps NaN to black
  if (toneMapping === "reinhard") v = v / (1 + v);
  if (v > 1) v = 1;
  return Math.round(Math.sqrt(v) * 255);
}
