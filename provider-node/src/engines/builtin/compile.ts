/**
 * Turns the resolved scene of one frame into flat, ray-ready records: unit normals, precomputed
 * triangle edges, bounding boxes, named materials looked up once. Geometry that is degenerate at
 * this frame (a zero plane normal, a flat area light, a bad camera) throws FatalError("SCENE_INVALID").
 */
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { Scene } from "./animate.ts";
import { makeCamera, type Camera } from "./camera.ts";
import { add, cross, dot, length, normalize, scale, sub, type Vec3 } from "./vec.ts";
import type { ToneMapping } from "./tonemap.ts";

export interface Material {
  /** Diffuse albedo. */
  r: number;
  g: number;
  b: number;
  /** Probability of a mirror bounce. */
  specular: number;
  /** Mirror tint. */
  sr: number;
  sg: number;
  sb: number;
  /** Emitted radiance. */
  er: number;
  eg: number;
  eb: number;
}

export interface Sphere {
  cx: number;
  cy: number;
  cz: number;
  radius: number;
  radius2: number;
  material: Material;
}

export interface Plane {
  /** Unit normal n and offset d = n·point, so the plane is n·p = d. */
  nx: number;
  ny: number;
  nz: number;
  d: number;
  material: Material;
}

export interface Box {
  min: Vec3;
  max: Vec3;
  material: Material;
}

export interface Triangle {
  /** First vertex and the two edges from it; unit geometric normal (e1 × e2). */
  x0: number;
  y0: number;
  z0: number;
  e1x: number;
  e1y: number;
  e1z: number;
  e2x: number;
  e2y: number;
  e2z: number;
  nx: number;
  ny: number;
  nz: number;
}

export interface Mesh {
  min: Vec3;
  max: Vec3;
  triangles: Triangle[];
  material: Material;
}

export interface PointLight {
  x: number;
  y: number;
  z: number;
  /** color × intensity. */
  r: number;
  g: number;
  b: number;
}

export interface AreaLight {
  /** Corner and edges of the parallelogram; unit normal along edgeU × edgeV; area. */
  cx: number;
  cy: number;
  cz: number;
  ux: number;
  uy: number;
  uz: number;
  vx: number;
  vy: number;
  vz: number;
  nx: number;
  ny: number;
  nz: number;
  area: number;
  twoSided: boolean;
  /** Emitted radiance: color × intensity. */
  r: number;
  g: number;
  b: number;
}

export interface CompiledScene {
  camera: Camera;
  background: Vec3;
  exposure: number;
  toneMapping: ToneMapping;
  spheres: Sphere[];
  planes: Plane[];
  boxes: Box[];
  meshes: Mesh[];
  pointLights: PointLight[];
  areaLights: AreaLight[];
}

type SceneMaterial = Scene["materials"][string];

function toMaterial(m: SceneMaterial): Material {
  return {
    r: m.color[0],
    g: m.color[1],
    b: m.color[2],
    specular: m.specular,
    sr: m.specularColor[0],
    sg: m.specularColor[1],
    sb: m.specularColor[2],
    er: m.emission[0],
    eg: m.emission[1],
    eb: m.emission[2],
  };
}

function invalid(path: string, message: string, frameNote: string): never {
  throw new FatalError("SCENE_INVALID", `${path}: ${message}${frameNote}`);
}

/** Compiles the scene of one frame for a full frame of `width × height` pixels. */
export function compileScene(scene: Scene, width: number, height: number, frame = 0): CompiledScene {
  const atFrame = ` (at frame ${frame})`;
  const named = new Map<string, Material>();
  for (const [name, material] of Object.entries(scene.materials)) named.set(name, toMaterial(material));
  const materialOf = (ref: string | SceneMaterial): Material => (typeof ref === "string" ? named.get(ref)! : toMaterial(ref));

  const compiled: CompiledScene = {
    camera: makeCamera(scene.camera, width, height),
    background: scene.background,
    exposure: scene.exposure,
    toneMapping: scene.toneMapping,
    spheres: [],
    planes: [],
    boxes: [],
    meshes: [],
    pointLights: [],
    areaLights: [],
  };

  scene.objects.forEach((object, i) => {
    const material = materialOf(object.material);
    switch (object.type) {
      case "sphere": {
        const [cx, cy, cz] = object.center;
        compiled.spheres.push({ cx, cy, cz, radius: object.radius, radius2: object.radius * object.radius, material });
        break;
      }
      case "plane": {
        const n = normalize(object.normal);
        if (!n) invalid(`objects[${i}].normal`, "must not be the zero vector", atFrame);
        compiled.planes.push({ nx: n[0], ny: n[1], nz: n[2], d: dot(n, object.point), material });
        break;
      }
      case "box": {
        const half = scale(object.size, 0.5);
        compiled.boxes.push({ min: sub(object.center, half), max: add(object.center, half), material });
        break;
      }
      case "mesh": {
        const vertices = object.vertices.map((v) => add(v, object.position));
        const min = [Infinity, Infinity, Infinity];
        const max = [-Infinity, -Infinity, -Infinity];
        const triangles: Triangle[] = [];
        for (const [a, b, c] of object.indices) {
          const p0 = vertices[a];
          const e1 = sub(vertices[b], p0);
          const e2 = sub(vertices[c], p0);
          const n = normalize(cross(e1, e2));
          if (!n) continue; // a degenerate triangle covers no area: nothing to hit
          for (const p of [vertices[a], vertices[b], vertices[c]]) {
            for (let k = 0; k < 3; k++) {
              min[k] = Math.min(min[k], p[k]);
              max[k] = Math.max(max[k], p[k]);
            }
          }
          triangles.push({
            x0: p0[0], y0: p0[1], z0: p0[2],
            e1x: e1[0], e1y: e1[1], e1z: e1[2],
            e2x: e2[0], e2y: e2[1], e2z: e2[2],
            nx: n[0], ny: n[1], nz: n[2],
          });
        }
        if (triangles.length > 0) {
          compiled.meshes.push({ min: [min[0], min[1], min[2]], max: [max[0], max[1], max[2]], triangles, material });
        }
        break;
      }
    }
  });

  scene.lights.forEach((light, i) => {
    const [r, g, b] = scale(light.color, light.intensity);
    if (light.type === "point") {
      const [x, y, z] = light.position;
      compiled.pointLights.push({ x, y, z, r, g, b });
      return;
    }
    const normal = cross(light.edgeU, light.edgeV);
    const area = length(normal);
    const n = normalize(normal);
    if (!n) invalid(`lights[${i}]`, "edgeU and edgeV must be non-zero and not parallel (the light has no area)", atFrame);
    const [cx, cy, cz] = light.corner;
    const [ux, uy, uz] = light.edgeU;
    const [vx, vy, vz] = light.edgeV;
    compiled.areaLights.push({ cx, cy, cz, ux, uy, uz, vx, vy, vz, nx: n[0], ny: n[1], nz: n[2], area, twoSided: light.twoSided, r, g, b });
  });

  return compiled;
}
