"""Many scenes on a Ray cluster: one da3cpp model per actor, one scene per task (Ray Data).

Ray is not a dependency of da3cpp (``pip install ray[data]``). Each scene is a folder of images
(the views of one scene); its exports go to ``out_dir/<scene name>/`` exactly as
``DepthAnything3.inference(images, export_dir=..., export_format=...)`` writes them in one
process, and a scene that fails (a corrupt or missing image, ...) is reported in the summary
while the others complete::

    import ray
    from da3cpp.ray import run_scenes

    ray.init()                                   # or ray.init(address="HEAD_IP:6379")
    summary = run_scenes(["scenes/0001", "scenes/0002", ...], "models/DA3-SMALL", "out",
                         export_format="mini_npz-glb", num_actors=4, threads_per_actor=2)
    print(summary["ok"], "scenes done;", summary["failed"])

examples/python/ray_scenes.py is a complete program. docs/python.md, "Ray", says more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def scene_images(scene_dir: str) -> list[str]:
    """The images of a scene folder, sorted by name (not recursive), as ``da3 infer DIR`` takes them."""
    names = sorted(n for n in os.listdir(scene_dir) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise FileNotFoundError(f"scene folder '{scene_dir}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [os.path.join(scene_dir, n) for n in names]


def run_scene(model: Any, scene_dir: str, out_dir: str, inference_kwargs: dict) -> dict:
    """One scene through ``model.inference``: a summary row, ``ok`` False with the error when it failed."""
    name = Path(scene_dir).name
    row = {"scene": name, "path": str(scene_dir), "ok": False, "error": "", "views": 0, "out": ""}
    try:
        images = scene_images(scene_dir)
        row["views"] = len(images)
        target = os.path.join(out_dir, name)
        model.inference(images, export_dir=target, **inference_kwargs)
        row.update(ok=True, out=target)
    except Exception as e:  # a failed scene is a result, not the end of the run
        row["error"] = f"{type(e).__name__}: {e}"
    return row


class SceneActor:
    """A Ray Data actor (``map_batches`` callable class): loads the model once, then runs the
    scenes of each batch (``{"path": [...]}``) and returns their summary rows."""

    def __init__(self, model_dir: str, out_dir: str, threads: Optional[int], model_kwargs: dict,
                 inference_kwargs: dict) -> None:
        from . import DepthAnything3  # noqa: PLC0415 (imported in the worker process)

        self.model = DepthAnything3.from_pretrained(model_dir, threads=threads, **model_kwargs)
        self.out_dir = out_dir
        self.inference_kwargs = inference_kwargs

    def __call__(self, batch: dict) -> dict:
        rows = [run_scene(self.model, str(p), self.out_dir, self.inference_kwargs) for p in batch["path"]]
        return {k: [r[k] for r in rows] for k in ("scene", "path", "ok", "error", "views", "out")}


def run_scenes(
    scene_dirs: Sequence[str],
    model_dir: str,
    out_dir: str,
    *,
    num_actors: int = 2,
    threads_per_actor: int = 1,
    export_format: str = "mini_npz",
    model_kwargs: Optional[dict] = None,
    summary_name: str = "summary.json",
    **inference_kwargs: Any,
) -> dict:
    """Runs every scene folder through DA3 on the Ray cluster ``ray.init()`` connected to.

    Args:
        scene_dirs: folders, each holding the images (views) of one scene; the folder's name
            names its output folder, so names must be distinct.
        model_dir: the model directory, readable at this path on every node.
        out_dir: where ``<scene>/`` outputs and ``summary.json`` go (a shared file system when
            the cluster has several machines).
        num_actors: actors in the pool, each holding one loaded model.
        threads_per_actor: CPUs each actor reserves, and libda3 threads it computes with.
        export_format: as ``inference()`` (e.g. ``"mini_npz-glb"``).
        model_kwargs: more ``from_pretrained`` options (device, attention_backend, ...).
        inference_kwargs: more ``inference()`` arguments (process_res, ...), the same for all.

    Returns:
        ``{"scenes": [row, ...] in input order, "ok": count, "failed": [{"scene", "error"}, ...],
        "summary": path}``; each row has scene, path, ok, error, views, out. The summary is
        also written to ``out_dir/summary.json``.
    """
    import ray  # noqa: PLC0415

    names = [Path(d).name for d in scene_dirs]
    if len(set(names)) != len(names):
        raise ValueError("scene folders must have distinct names (each names its output folder)")
    if num_actors < 1 or threads_per_actor < 1:
        raise ValueError("num_actors and threads_per_actor must be at least 1")
    os.makedirs(out_dir, exist_ok=True)
    kwargs = dict(inference_kwargs, export_format=export_format)
    ds = ray.data.from_items([{"path": os.path.abspath(d)} for d in scene_dirs])
    ds = ds.repartition(len(scene_dirs))  # one block per scene: scenes spread over all actors
    results = ds.map_batches(
        SceneActor,
        fn_constructor_kwargs=dict(model_dir=os.path.abspath(model_dir), out_dir=os.path.abspath(out_dir),
                                   threads=threads_per_actor, model_kwargs=dict(model_kwargs or {}),
                                   inference_kwargs=kwargs),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=threads_per_actor,
    ).take_all()
    by_path = {str(r["path"]): r for r in results}
    rows = []
    for d in scene_dirs:
        r = by_path[os.path.abspath(d)]
        rows.append({"scene": str(r["scene"]), "path": str(r["path"]), "ok": bool(r["ok"]),
                     "error": str(r["error"]), "views": int(r["views"]), "out": str(r["out"])})
    summary = {
        "scenes": rows,
        "ok": sum(r["ok"] for r in rows),
        "failed": [{"scene": r["scene"], "error": r["error"]} for r in rows if not r["ok"]],
    }
    path = os.path.join(out_dir, summary_name)
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    summary["summary"] = path
    return summary
