# Builds Blender's fixed benchmark scene from the factory startup file and saves it to the path
# given after "--". Changing it changes every Blender benchmark score.
import sys

import bpy

out_path = sys.argv[sys.argv.index("--") + 1]
scene = bpy.context.scene
scene.render.engine = "CYCLES"  # what the render script requires (it renders nothing else)
for index in range(9):
    x, y = index % 3 - 1, index // 3 - 1
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(x * 1.6, y * 1.6, 0.6))
    mat = bpy.data.materials.new(f"Sphere{index}")
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.2 + 0.08 * index, 0.3, 0.9 - 0.08 * index, 1.0)
    bsdf.inputs["Metallic"].default_value = (index % 3) / 2
    bsdf.inputs["Roughness"].default_value = 0.2
    bpy.context.active_object.data.materials.append(mat)
bpy.ops.mesh.primitive_plane_add(size=20)
bpy.data.objects["Cube"].hide_render = True
bpy.ops.wm.save_as_mainfile(filepath=out_path)
