/**
 * The path tracer: the radiance arriving along one camera ray.
 *
 * At each surface: its emission is added; direct light from every point light and one sample of
 * every area light is added for the diffuse part of the material (next-event estimation, with a
 * shadow ray); then the path continues, as a mirror bounce with probability `specular`, otherwise
 * as a cosine-weighted diffuse bounce, for at most `maxBounces` bounces. Area lights are seen
 * directly only by camera rays and mirror bounces (diffuse bounces already counted them through
 * next-event estimation). Rays that leave the scene receive the background colour.
 *
 * Lambertian BRDF = albedo / π; a point light gives irradiance intensity·cosθ / d²; an area light
 * of radiance L gives L·cosθ·cosθ'·area / d² per sample.
 */
import type { CompiledScene } from "./compile.ts";
import { closestHit, Hit, occluded } from "./intersect.ts";
import type { Rng } from "./rng.ts";
import { cosineHemisphere, type MutableVec } from "./sampling.ts";

/** New rays start this far off their surface, along the normal that faces the incoming ray. */
export const EPSILON = 1e-4;
const INV_PI = 1 / 3.141592653589793;

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** Per-thread scratch state, so tracing allocates nothing. */
export class Tracer {
  readonly scene: CompiledScene;
  readonly maxBounces: number;
  private readonly hit = new Hit();
  private readonly bounce: MutableVec = { x: 0, y: 0, z: 0 };
  private readonly direct: Rgb = { r: 0, g: 0, b: 0 };

  constructor(scene: CompiledScene, maxBounces: number) {
    this.scene = scene;
    this.maxBounces = maxBounces;
  }

  /** Adds to `out` the radiance along the ray from (ox, oy, oz) in unit direction (dx, dy, dz). */
  trace(rng: Rng, ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, out: Rgb): void {
    const { scene, hit, bounce, direct } = this;
    let tr = 1;
    let tg = 1;
    let tb = 1;
    let seesLights = true; // camera ray, or the last bounce was a mirror
    for (let depth = 0; ; depth++) {
      if (!closestHit(scene, ox, oy, oz, dx, dy, dz, hit)) {
        out.r += tr * scene.background[0];
        out.g += tg * scene.background[1];
        out.b += tb * scene.background[2];
        return;
      }
      const light = hit.light;
      if (light !== null) {
        const cos = hit.nx * dx + hit.ny * dy + hit.nz * dz;
        if (seesLights && (cos < 0 || light.twoSided)) {
          out.r += tr * light.r;
          out.g += tg * light.g;
          out.b += tb * light.b;
        }
        return;
      }
      const m = hit.material!;
      out.r += tr * m.er;
      out.g += tg * m.eg;
      out.b += tb * m.eb;

      const nx = hit.nx;
      const ny = hit.ny;
      const nz = hit.nz;
      const px = ox + dx * hit.t + nx * EPSILON;
      const py = oy + dy * hit.t + ny * EPSILON;
      const pz = oz + dz * hit.t + nz * EPSILON;

      const diffuse = (1 - m.specular) * INV_PI;
      if (diffuse > 0) {
        this.directLight(rng, px, py, pz, nx, ny, nz, direct);
        out.r += tr * m.r * diffuse * direct.r;
        out.g += tg * m.g * diffuse * direct.g;
        out.b += tb * m.b * diffuse * direct.b;
      }

      if (depth >= this.maxBounces) return;

      if (m.specular > 0 && rng.next() < m.specular) {
        const twoCos = 2 * (dx * nx + dy * ny + dz * nz);
        dx -= twoCos * nx;
        dy -= twoCos * ny;
        dz -= twoCos * nz;
        tr *= m.sr;
        tg *= m.sg;
        tb *= m.sb;
        seesLights = true;
      } else {
        cosineHemisphere(rng, nx, ny, nz, bounce);
        dx = bounce.x;
        dy = bounce.y;
        dz = bounce.z;
        tr *= m.r;
        tg *= m.g;
        tb *= m.b;
        seesLights = false;
      }
      if (tr === 0 && tg === 0 && tb === 0) return;
      ox = px;
      oy = py;
      oz = pz;
    }
  }

  /** Irradiance-like sum at point p with facing normal n: Σ L·cosθ·(geometry) over all lights. */
  private directLight(rng: Rng, px: number, py: number, pz: number, nx: number, ny: number, nz: number, out: Rgb): void {
    const scene = this.scene;
    out.r = 0;
    out.g = 0;
    out.b = 0;
    for (const light of scene.pointLights) {
      const lx = light.x - px;
      const ly = light.y - py;
      const lz = light.z - pz;
      const d2 = lx * lx + ly * ly + lz * lz;
      const dist = Math.sqrt(d2);
      const cos = (nx * lx + ny * ly + nz * lz) / dist;
      if (!(cos > 0)) continue;
      if (occluded(scene, px, py, pz, lx / dist, ly / dist, lz / dist, dist)) continue;
      const w = cos / d2;
      out.r += light.r * w;
      out.g += light.g * w;
      out.b += light.b * w;
    }
    for (const light of scene.areaLights) {
      const u = rng.next();
      const v = rng.next();
      const lx = light.cx + light.ux * u + light.vx * v - px;
      const ly = light.cy + light.uy * u + light.vy * v - py;
      const lz = light.cz + light.uz * u + light.vz * v - pz;
      const d2 = lx * lx + ly * ly + lz * lz;
      const dist = Math.sqrt(d2);
      const wx = lx / dist;
      const wy = ly / dist;
      const wz = lz / dist;
      const cos = nx * wx + ny * wy + nz * wz;
      if (!(cos > 0)) continue;
      let cosLight = -(light.nx * wx + light.ny * wy + light.nz * wz);
      if (light.twoSided) cosLight = Math.abs(cosLight);
      if (!(cosLight > 0)) continue;
      if (occluded(scene, px, py, pz, wx, wy, wz, dist)) continue;
      const w = (cos * cosLight * light.area) / d2;
      out.r += light.r * w;
      out.g += light.g * w;
      out.b += light.b * w;
    }
  }
}
