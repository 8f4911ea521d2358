# Prints the render settings of the .blend file Blender was started with, as one line
#   TESSELLATE-SCENE {"width": ..., ...}
# Run by sdk/src/blenderScene.ts as
#   blender -b -Y --factory-startup <file.blend> --python-exit-code 1 --python blenderSceneQuery.py
# (-Y: Python embedded in the file never runs). It changes and saves nothing.
import json
import os
import sys

import bpy

sys.dont_write_bytecode = True  # no __pycache__ beside the module
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blenderExternalFiles import external_files  # noqa: E402  (next to this script)

scene = bpy.context.scene
render = scene.render
cycles = getattr(scene, "cycles", None)
print("TESSELLATE-SCENE " + json.dumps({
    "file": bpy.data.filepath,
    "scene": scene.name,
    "scenes": [s.name for s in bpy.data.scenes],
    "engine": render.engine,
    "width": render.resolution_x * render.resolution_percentage // 100,
    "height": render.resolution_y * render.resolution_percentage // 100,
    "resolutionPercentage": render.resolution_percentage,
    "frameStart": scene.frame_start,
    "frameEnd": scene.frame_end,
    "frameStep": scene.frame_step,
    "camera": scene.camera.name if scene.camera is not None else None,
    "cameras": sorted(o.name for o in bpy.data.objects if o.type == "CAMERA"),
    "samples": cycles.samples if cycles is not None else None,
    "adaptiveSampling": bool(cycles.use_adaptive_sampling) if cycles is not None else None,
    "denoise": bool(cycles.use_denoising) if cycles is not None else None,
    "useBorder": bool(render.use_border),
    "externalFiles": external_files(),
}))
