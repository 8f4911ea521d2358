/**
 * Ray–scene intersection on scalars (no allocation per ray). Rays have unit directions. The hit
 * normal is unit length and turned to face the incoming ray, so shading never needs to know
 * which side of a surface it is on. Area lights are hit by `closestHit` (the camera and mirrors see
 * them) but never block `occluded` shadow rays.
 */
import type { AreaLight, CompiledScene, Material } from "./compile.ts";

/** Hits closer than this are ignored (rays start EPSILON off their surface, see shade.ts). */
export const T_MIN = 1e-9;
const PARALLEL = 1e-12;

export class Hit {
  t = 0;
  nx = 0;
  ny = 0;
  nz = 0;
  material: Material | null = null;
  light: AreaLight | null = null;
}

/** Slab test: distance to the nearest face crossing in (T_MIN, tMax), or Infinity; sets `slabAxis`. */
let slabAxis = 0;
function boxDistance(
  min: readonly number[],
  max: readonly number[],
  ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number,
  tMax: number,
): number {
  let near = -Infinity;
  let far = Infinity;
  let nearAxis = -1;
  let farAxis = -1;
  for (let axis = 0; axis < 3; axis++) {
    const o = axis === 0 ? ox : axis === 1 ? oy : oz;
    const d = axis === 0 ? dx : axis === 1 ? dy : dz;
    if (d === 0) {
      if (o < min[axis] || o > max[axis]) return Infinity;
      continue;
    }
    let t0 = (min[axis] - o) / d;
    let t1 = (max[axis] - o) / d;
    if (t0 > t1) {
      const swap = t0;
      t0 = t1;
      t1 = swap;
    }
    if (t0 > near) {
      near = t0;
      nearAxis = axis;
    }
    if (t1 < far) {
      far = t1;
      farAxis = axis;
    }
    if (near > far) return Infinity;
  }
  if (near > T_MIN && near < tMax) {
    slabAxis = nearAxis;
    return near;
  }
  if (far > T_MIN && far < tMax && near <= T_MIN) {
    slabAxis = farAxis;
    return far;
  }
  return Infinity;
}

/** Whether the ray meets the box anywhere in [0, tMax): the cheap test before a mesh's triangles. */
function meetsBounds(
  min: readonly number[], max: readonly number[],
  ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number,
  tMax: number,
): boolean {
  let near = 0;
  let far = tMax;
  for (let axis = 0; axis < 3; axis++) {
    const o = axis === 0 ? ox : axis === 1 ? oy : oz;
    const d = axis === 0 ? dx : axis === 1 ? dy : dz;
    if (d === 0) {
      if (o < min[axis] || o > max[axis]) return false;
      continue;
    }
    let t0 = (min[axis] - o) / d;
    let t1 = (max[axis] - o) / d;
    if (t0 > t1) {
      const swap = t0;
      t0 = t1;
      t1 = swap;
    }
    if (t0 > near) near = t0;
    if (t1 < far) far = t1;
    if (near > far) return false;
  }
  return true;
}

/**
 * Möller–Trumbore for a triangle (`parallelogram` false) or a parallelogram (true) given by a
 * corner and two edges. Returns the distance in (T_MIN, tMax), or Infinity.
 */
function edgeDistance(
  x0: number, y0: number, z0: number,
  e1x: number, e1y: number, e1z: number,
  e2x: number, e2y: number, e2z: number,
  parallelogram: boolean,
  ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number,
  tMax: number,
): number {
  const px = dy * e2z - dz * e2y;
  const py = dz * e2x - dx * e2z;
  const pz = dx * e2y - dy * e2x;
  const det = e1x * px + e1y * py + e1z * pz;
  if (det > -PARALLEL && det < PARALLEL) return Infinity;
  const inv = 1 / det;
  const sx = ox - x0;
  const sy = oy - y0;
  const sz = oz - z0;
  const u = (sx * px + sy * py + sz * pz) * inv;
  if (u < 0 || u > 1) return Infinity;
  const qx = sy * e1z - sz * e1y;
  const qy = sz * e1x - sx * e1z;
  const qz = sx * e1y - sy * e1x;
  const v = (dx * qx + dy * qy + dz * qz) * inv;
  if (v < 0 || (parallelogram ? v > 1 : u + v > 1)) return Infinity;
  const t = (e2x * qx + e2y * qy + e2z * qz) * inv;
  return t > T_MIN && t < tMax ? t : Infinity;
}

function setNormal(hit: Hit, nx: number, ny: number, nz: number, dx: number, dy: number, dz: number): void {
  const facing = nx * dx + ny * dy + nz * dz > 0 ? -1 : 1;
  hit.nx = nx * facing;
  hit.ny = ny * facing;
  hit.nz = nz * facing;
}

/** The nearest surface or area light along the ray; fills `hit` and returns true, or returns false. */
export function closestHit(
  scene: CompiledScene,
  ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number,
  hit: Hit,
): boolean {
  let best = Infinity;

  for (const s of scene.spheres) {
    const lx = ox - s.cx;
    const ly = oy - s.cy;
    const lz = oz - s.cz;
    const b = lx * dx + ly * dy + lz * dz;
    const c = lx * lx + ly * ly + lz * lz - s.radius2;
    const disc = b * b - c;
    if (disc < 0) continue;
    const root = Math.sqrt(disc);
    let t = -b - root;
    if (t <= T_MIN) t = -b + root;
    if (t <= T_MIN || t >= best) continue;
    best = t;
    hit.material = s.material;
    hit.light = null;
    setNormal(hit, (lx + dx * t) / s.radius, (ly + dy * t) / s.radius, (lz + dz * t) / s.radius, dx, dy, dz);
  }

  for (const p of scene.planes) {
    const denom = p.nx * dx + p.ny * dy + p.nz * dz;
    if (denom > -PARALLEL && denom < PARALLEL) continue;
    const t = (p.d - (p.nx * ox + p.ny * oy + p.nz * oz)) / denom;
    if (t <= T_MIN || t >= best) continue;
    best = t;
    hit.material = p.material;
    hit.light = null;
    setNormal(hit, p.nx, p.ny, p.nz, dx, dy, dz);
  }

  for (const box of scene.boxes) {
    const t = boxDistance(box.min, box.max, ox, oy, oz, dx, dy, dz, best);
    if (t === Infinity) continue;
    best = t;
    hit.material = box.material;
    hit.light = null;
    setNormal(hit, slabAxis === 0 ? 1 : 0, slabAxis === 1 ? 1 : 0, slabAxis === 2 ? 1 : 0, dx, dy, dz);
  }

  for (const mesh of scene.meshes) {
    if (!meetsBounds(mesh.min, mesh.max, ox, oy, oz, dx, dy, dz, best)) continue;
    for (const tri of mesh.triangles) {
      const t = edgeDistance(
        tri.x0, tri.y0, tri.z0, tri.e1x, tri.e1y, tri.e1z, tri.e2x, tri.e2y, tri.e2z, false,
        ox, oy, oz, dx, dy, dz, best,
      );
      if (t === Infinity) continue;
      best = t;
      hit.material = mesh.material;
      hit.light = null;
      setNormal(hit, tri.nx, tri.ny, tri.nz, dx, dy, dz);
    }
  }

  for (const light of scene.areaLights) {
    const t = edgeDistance(
      light.cx, light.cy, light.cz, light.ux, light.uy, light.uz, light.vx, light.vy, light.vz, true,
      ox, oy, oz, dx, dy, dz, best,
    );
    if (t === Infinity) continue;
    best = t;
    hit.material = null;
    hit.light = light;
    // The light's own normal, not turned: shade.ts checks which side was seen.
    hit.nx = light.nx;
    hit.ny = light.ny;
    hit.nz = light.nz;
  }

  hit.t = best;
  return best !== Infinity;
}

/** Whether any surface (lights excluded) lies on the ray strictly between T_MIN and `distance`. */
export function occluded(
  scene: CompiledScene,
  ox: number, oy: number, oz: number,
  dx: number, dy: number, dz: number,
  distance: number,
): boolean {
  for (const s of scene.spheres) {
    const lx = ox - s.cx;
    const ly = oy - s.cy;
    const lz = oz - s.cz;
    const b = lx * dx + ly * dy + lz * dz;
    const c = lx * lx + ly * ly + lz * lz - s.radius2;
    const disc = b * b - c;
    if (disc < 0) continue;
    const root = Math.sqrt(disc);
    const t0 = -b - root;
    const t1 = -b + root;
    if ((t0 > T_MIN && t0 < distance) || (t1 > T_MIN && t1 < distance)) return true;
  }
  for (const p of scene.planes) {
    const denom = p.nx * dx + p.ny * dy + p.nz * dz;
    if (denom > -PARALLEL && denom < PARALLEL) continue;
    const t = (p.d - (p.nx * ox + p.ny * oy + p.nz * oz)) / denom;
    if (t > T_MIN && t < distance) return true;
  }
  for (const box of scene.boxes) {
    if (boxDistance(box.min, box.max, ox, oy, oz, dx, dy, dz, distance) !== Infinity) return true;
  }
  for (const mesh of scene.meshes) {
    if (!meetsBounds(mesh.min, mesh.max, ox, oy, oz, dx, dy, dz, distance)) continue;
    for (const tri of mesh.triangles) {
      const t = edgeDistance(
        tri.x0, tri.y0, tri.z0, tri.e1x, tri.e1y, tri.e1z, tri.e2x, tri.e2y, tri.e2z, false,
        ox, oy, oz, dx, dy, dz, distance,
      );
      if (t !== Infinity) return true;
    }
  }
  return false;
}
