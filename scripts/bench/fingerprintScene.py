# Builds and renders the tolerant-verification measurement scene: Blender's own primitives with a
# glass and a subsurface material on a ground plane, Cycles CPU, fixed seed, no adaptive sampling,
# no denoiser, no dithering (adaptive sampling and the denoiser on with "adaptive" / "denoise" true). Run as
#   blender -b --factory-startup --python fingerprintScene.py -- <out.png> <json settings>
# settings: {"width", "height", "samples", "seed", "frame", "threads", "adaptive"?, "denoise"?};
# with "saveBlend": true the scene is saved to <out.blend> instead of rendered (the tolerant
# end-to-end test renders it through the provider nodes).
import json
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1 :]
out_path, settings = argv[0], json.loads(argv[1])

scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 4


def principled(name, **inputs):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    for key, value in inputs.items():
        bsdf.inputs[key].default_value = value
    return mat


cube = bpy.data.objects["Cube"]
cube.data.materials.append(principled("Glass", **{"Transmission": 1.0, "Roughness": 0.05, "IOR": 1.45}))
cube.location = (0.0, 0.0, 1.0)
cube.keyframe_insert("location", frame=1)
cube.location = (0.0, 0.0, 1.6)
cube.keyframe_insert("location", frame=4)
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(2.0, 1.0, 0.8))
bpy.context.active_object.data.materials.append(
    principled("Skin", **{"Base Color": (0.9, 0.6, 0.5, 1.0), "Subsurface": 0.6, "Subsurface Radius": (1.0, 0.3, 0.2)})
)
bpy.ops.mesh.primitive_plane_add(size=12, location=(0.0, 0.0, 0.0))
bpy.context.active_object.data.materials.append(principled("Ground", **{"Base Color": (0.3, 0.5, 0.3, 1.0)}))

render = scene.render
render.engine = "CYCLES"
cycles = scene.cycles
cycles.device = "CPU"
cycles.samples = settings["samples"]
cycles.seed = settings["seed"]
cycles.use_animated_seed = False
cycles.use_adaptive_sampling = settings.get("adaptive", False)
cycles.use_denoising = settings.get("denoise", False)
render.threads_mode = "FIXED"
render.threads = settings["threads"]
render.dither_intensity = 0.0
render.resolution_x = settings["width"]
render.resolution_y = settings["height"]
render.resolution_percentage = 100
render.image_settings.file_format = "PNG"
render.image_settings.color_mode = "RGBA"
render.image_settings.color_depth = "8"
render.filepath = out_path
scene.frame_set(settings["frame"])
if settings.get("saveBlend"):
    bpy.ops.wm.save_as_mainfile(filepath=out_path)
else:
    bpy.ops.render.render(write_still=True)
