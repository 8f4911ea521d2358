# Tessellate's render script for Blender: with the sdk's blenderExternalFiles.py it imports, the only
# Python that runs in a render (Blender is
# started with -Y, so scripts embedded in the .blend file never run; scripts given with
# --python on the command line still do). Blender runs it after loading the scene, then
# renders the frame given by -f (or the frames of -s/-e/-a). Its one argument, after "--", is a
# JSON object:
#   {"width", "height", "rect": {"x", "y", "width", "height"}, "threads", "output",
#    "blendFile", "externalFilesModule", "samples", "seed", "adaptiveSampling", "denoise",
#    "camera"?, "scene"?}
# or, for several tiles in this one process (the scene loaded and set up once),
# "tiles": [{"rect", "output", "first"?, "last"?}, ...], "first", "last" in place of "rect" and
# "output": the script then renders each tile's frames (its own first-last, else the request's)
# itself, one tile after the other, each as the command line would (the same render pipeline,
# animation render of the frame range).
# Any problem raises SystemExit: Blender then exits with status 1 without rendering.
import json
import os
import sys

import bpy

args = json.loads(sys.argv[sys.argv.index("--") + 1])

# A .blend that fails to load leaves Blender on its factory scene: never render that.
if not bpy.data.filepath or os.path.realpath(bpy.data.filepath) != os.path.realpath(args["blendFile"]):
    raise SystemExit(f"tessellate: the scene file was not loaded ({bpy.data.filepath!r})")

# The scene is chosen with -S on the command line; Blender ignores a name it cannot find.
scene = bpy.context.scene
if args.get("scene") and scene.name != args["scene"]:
    raise SystemExit(f"tessellate: the file has no scene named {args['scene']!r}")
render = scene.render

if args.get("camera"):
    camera = bpy.data.objects.get(args["camera"])
    if camera is None or camera.type != "CAMERA":
        raise SystemExit(f"tessellate: the scene has no camera named {args['camera']!r}")
    scene.camera = camera
if scene.camera is None:
    raise SystemExit("tessellate: the scene has no active camera")

# Only Cycles renders here: Eevee and Workbench need an OpenGL context, which a headless,
# sandboxed provider has not, and rendering such a scene with Cycles instead would give
# pictures its author never made. Refuse rather than substitute.
if render.engine != "CYCLES":
    raise SystemExit(
        f"tessellate: the scene renders with {render.engine}, which providers cannot run headless; "
        "only Cycles scenes are rendered (set Render Engine to Cycles in the file)"
    )

# Every external file the scene uses must be there: Blender renders a missing image texture
# magenta (and skips a missing library, font, volume or cache) without failing, and redundant
# replicas would then agree on a wrong frame and be paid for it. Inside the sandbox only the
# scene folder is visible, so a path to anywhere else is missing too. Packed files are inside
# the .blend and always present. The list is the sdk's (blenderExternalFiles.py, bound read-only).
sys.dont_write_bytecode = True  # no __pycache__ beside the module
sys.path.insert(0, os.path.dirname(args["externalFilesModule"]))
from blenderExternalFiles import external_files, is_present  # noqa: E402

missing = [f"{f['kind']} {f['name']!r} -> {f['path']}" for f in external_files() if not is_present(f)]
if missing:
    shown = "; ".join(missing[:8]) + (f"; and {len(missing) - 8} more" if len(missing) > 8 else "")
    raise SystemExit(
        f"tessellate: the scene uses {len(missing)} external file(s) that are not in the scene folder: {shown}"
        " (put them in the scene folder with relative paths, or pack them into the .blend: File > External Data > Pack Resources)"
    )

# Cycles on the CPU, with everything that could depend on timing or hardware pinned.
bpy.context.preferences.addons["cycles"].preferences.compute_device_type = "NONE"
cycles = scene.cycles
cycles.device = "CPU"
cycles.samples = args["samples"]
cycles.seed = args["seed"]
cycles.use_animated_seed = False
cycles.use_adaptive_sampling = args["adaptiveSampling"]
cycles.use_denoising = args["denoise"]
cycles.time_limit = 0
render.threads_mode = "FIXED"
render.threads = args["threads"]
render.use_persistent_data = False
# Dithering adds noise when the float image is quantized to 8 bits, and its pattern depends on
# where the pixel lies in the rendered (border) image: with it, a tile differs from the same
# region of the full frame by up to 2/255. Without it, tiles compose exactly.
render.dither_intensity = 0.0

# The full frame size, and the rectangle as a render border cropped out of it.
width, height = args["width"], args["height"]
render.resolution_x = width
render.resolution_y = height
render.resolution_percentage = 100
render.use_crop_to_border = True


def set_border(rect):
    full_frame = rect == {"x": 0, "y": 0, "width": width, "height": height}
    render.use_border = not full_frame
    # Blender's border is normalized with its origin at the bottom-left, and Blender truncates
    # border * size to whole pixels: a quarter pixel inwards makes the truncation land exactly
    # on the intended pixel edge (values past 1 are clamped to the frame's edge).
    render.border_min_x = (rect["x"] + 0.25) / width
    render.border_max_x = min(1.0, (rect["x"] + rect["width"] + 0.25) / width)
    render.border_min_y = (height - rect["y"] - rect["height"] + 0.25) / height
    render.border_max_y = min(1.0, (height - rect["y"] + 0.25) / height)


# 8-bit RGBA PNG in the private work dir.
image = render.image_settings
image.file_format = "PNG"
image.color_mode = "RGBA"
image.color_depth = "8"
image.compression = 15
render.use_file_extension = True
render.use_overwrite = True
render.use_placeholder = False

tiles = args.get("tiles")
if tiles is None:
    set_border(args["rect"])
    render.filepath = args["output"]
else:
    # Every tile's frames, rendered here; the command line gives no -f/-a, so Blender exits after.
    scene.frame_step = 1
    for number, tile in enumerate(tiles, start=1):
        scene.frame_start = tile.get("first", args["first"])
        scene.frame_end = tile.get("last", args["last"])
        set_border(tile["rect"])
        render.filepath = tile["output"]
        print(f"tessellate: tile {number} of {len(tiles)}", flush=True)
        if "FINISHED" not in bpy.ops.render.render(animation=True):
            raise SystemExit(f"tessellate: Blender did not finish rendering tile {number}")
