/**
 * The pinhole camera: an orthonormal frame from position, look-at point and up vector, and the
 * primary ray through any point of the full frame. The field of view is kept as tan(fov / 2); a
 * field of view in degrees is converted by fixed Taylor series (exact operations only), never by
 * Math.tan, whose last bits differ between platforms.
 */
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { Scene } from "./animate.ts";
import { cross, normalize, sub, type Vec3 } from "./vec.ts";
import type { MutableVec } from "./sampling.ts";

const PI = 3.141592653589793;
const SERIES_TERMS = 16;

/** tan(degrees / 2) for 0 < degrees < 180, by the Taylor series of sin and cos (fixed term count). */
export function tanHalfAngleDegrees(degrees: number): number {
  const x = (degrees / 360) * PI; // half the angle, in radians: below π/2
  const x2 = x * x;
  let sin = 0;
  let cos = 0;
  let sinTerm = x;
  let cosTerm = 1;
  for (let n = 0; n < SERIES_TERMS; n++) {
    sin += sinTerm;
    cos += cosTerm;
    sinTerm = (-sinTerm * x2) / ((2 * n + 2) * (2 * n + 3));
    cosTerm = (-cosTerm * x2) / ((2 * n + 1) * (2 * n + 2));
  }
  return sin / cos;
}

export interface Camera {
  position: Vec3;
  forward: Vec3;
  right: Vec3;
  up: Vec3;
  /** tan(vertical fov / 2), and the same scaled by the aspect ratio for the horizontal axis. */
  tanHalfY: number;
  tanHalfX: number;
  width: number;
  height: number;
}

/** The camera of a resolved scene for a full frame of `width × height` pixels. */
export function makeCamera(spec: Scene["camera"], width: number, height: number): Camera {
  const forward = normalize(sub(spec.lookAt, spec.position));
  if (!forward) {
    throw new FatalError("SCENE_INVALID", "camera.lookAt: must differ from camera.position (the camera needs a viewing direction)");
  }
  const right = normalize(cross(forward, spec.up));
  if (!right) {
    throw new FatalError("SCENE_INVALID", "camera.up: must not be zero or parallel to the viewing direction (lookAt − position)");
  }
  const up = cross(right, forward);
  const tanHalfY = spec.tanHalfFov ?? tanHalfAngleDegrees(spec.fovDegrees as number);
  return { position: spec.position, forward, right, up, tanHalfY, tanHalfX: (tanHalfY * width) / height, width, height };
}

/** Writes into `dir` the unit direction through film point (sx, sy), in full-frame pixel units. */
export function primaryRay(camera: Camera, sx: number, sy: number, dir: MutableVec): void {
  const px = ((2 * sx) / camera.width - 1) * camera.tanHalfX;
  const py = (1 - (2 * sy) / camera.height) * camera.tanHalfY;
  const { forward: f, right: r, up: u } = camera;
  const x = f[0] + r[0] * px + u[0] * py;
  const y = f[1] + r[1] * px + u[1] * py;
  const z = f[2] + r[2] * px + u[2] * py;
  const len = Math.sqrt(x * x + y * y + z * z);
  dir.x = x / len;
  dir.y = y / len;
  dir.z = z / len;
}
