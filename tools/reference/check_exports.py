#!/usr/bin/env python3
"""Read da3.cpp's exports in DIR with the tools people will use on them (numpy, plyfile,
trimesh, pycolmap, PIL) and check what they find. Exit 0 when every file present loads and
holds what it should. Run by the C++ test ExportResults.ReadableByTheReferenceToolsWhenPresent.

  tools/reference/.venv/bin/python tools/reference/check_exports.py OUT_DIR
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def main(out: Path) -> int:
    checked = []
    if (out / "results.npz").exists():
        with np.load(out / "results.npz") as z:
            want = {"image": np.uint8, "depth": np.float32, "conf": np.float32,
                    "extrinsics": np.float32, "intrinsics": np.float32}
            for k, dt in want.items():
                assert k in z.files, f"npz lacks {k}"
                assert z[k].dtype == dt, f"npz {k} is {z[k].dtype}"
            n, h, w = z["depth"].shape
            assert z["image"].shape == (n, h, w, 3) and z["extrinsics"].shape == (n, 3, 4)
            # Ours beside the reference's keys: a unicode array, loaded without allow_pickle.
            assert z["source_names"].dtype.kind == "U" and z["source_names"].shape == (n,)
            assert z["source_intrinsics"].shape == (n, 3, 3) and z["source_sizes"].shape == (n, 2)
        checked.append("npz (numpy.load)")
    if (out / "points.ply").exists():
        import plyfile
        import trimesh
        v = plyfile.PlyData.read(str(out / "points.ply"))["vertex"]
        assert [p.name for p in v.properties] == ["x", "y", "z", "red", "green", "blue"]
        pc = trimesh.load(str(out / "points.ply"))
        assert len(pc.vertices) == len(v.data) > 0
        assert np.allclose(pc.vertices[:, 0], v["x"])
        checked.append(f"ply (plyfile, trimesh: {len(v.data)} points)")
    if (out / "scene.glb").exists():
        import trimesh
        scene = trimesh.load(str(out / "scene.glb"))
        kinds = sorted(type(g).__name__ for g in scene.geometry.values())
        assert "PointCloud" in kinds, kinds
        checked.append(f"glb (trimesh: {kinds})")
    if (out / "colmap").exists():
        import pycolmap
        a = pycolmap.Reconstruction(str(out / "colmap" / "sparse" / "0"))
        b = pycolmap.Reconstruction(str(out / "colmap" / "text"))
        for rec in (a, b):
            assert rec.num_images() > 0 and rec.num_points3D() > 0
            for img in rec.images.values():
                assert img.num_points2D() > 0
        assert a.num_points3D() == b.num_points3D() and a.num_images() == b.num_images()
        for pid, p in a.points3D.items():
            assert np.allclose(p.xyz, b.points3D[pid].xyz), pid
        checked.append(f"colmap (pycolmap binary and text: {a.num_images()} images, {a.num_points3D()} points)")
    if (out / "depth16").exists():
        from PIL import Image
        for png in sorted((out / "depth16").glob("*.png")):
            im = Image.open(png)
            assert im.mode in ("I;16", "I;16B", "I"), im.mode
            meta = json.loads(png.with_suffix(".json").read_text())
            d = np.asarray(im).astype(np.float64) * meta["scale"]
            assert abs(d.max() - meta["max_depth"]) <= meta["scale"], (d.max(), meta["max_depth"])
        checked.append("depth16 (PIL)")
    for c in checked:
        print("ok:", c)
    if not checked:
        print(f"nothing to check in {out}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
