# The external files a loaded .blend uses: image textures (single files, sequences, UDIM sets,
# movies), linked libraries, fonts, volumes, Alembic/USD caches and movie clips that are not
# packed into the file. One list for both sides of a job: the requester's `job submit` (through
# blenderSceneQuery.py) refuses a scene whose files would not be uploaded with it, and the
# provider's render script (provider-node/src/engines/blender/renderSegment.py) refuses to render
# one whose files are missing, instead of Blender's silent magenta.
import os

import bpy


def external_files():
    """[{"kind", "name", "path" (as stored), "absolute", "pattern" (a sequence or UDIM set)}]."""
    found = []

    def add(kind, block, path, pattern=False):
        if not path or getattr(block, "packed_file", None) is not None:
            return
        absolute = os.path.normpath(bpy.path.abspath(path, library=getattr(block, "library", None)))
        found.append({"kind": kind, "name": block.name, "path": path, "absolute": absolute, "pattern": pattern})

    for image in bpy.data.images:
        if image.users and image.source in {"FILE", "SEQUENCE", "TILED", "MOVIE"}:
            add("image", image, image.filepath, pattern=image.source in {"SEQUENCE", "TILED"})
    for library in bpy.data.libraries:
        add("library", library, library.filepath)
    for font in bpy.data.fonts:
        if font.users and font.filepath != "<builtin>":
            add("font", font, font.filepath)
    for volume in bpy.data.volumes:
        if volume.users:
            add("volume", volume, volume.filepath, pattern=volume.is_sequence)
    for cache in bpy.data.cache_files:
        if cache.users:
            add("cache file", cache, cache.filepath)
    for clip in bpy.data.movieclips:
        if clip.users:
            add("movie clip", clip, clip.filepath)
    return found


def is_present(entry):
    """Whether the file (for a pattern: its folder) exists for this process."""
    return os.path.exists(os.path.dirname(entry["absolute"]) if entry["pattern"] else entry["absolute"])
