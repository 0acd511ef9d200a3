#!/usr/bin/env python3
"""DA3 over a folder of scenes on a Ray cluster (da3cpp.ray, docs/python.md "Ray").

    pip install . "ray[data]"
    python examples/python/ray_scenes.py SCENES_ROOT -m models/DA3-SMALL -o out \\
        [--address auto|HEAD:6379] [--actors 2] [--threads 1] [-f mini_npz-glb] [--process-res 504]

SCENES_ROOT holds one folder per scene, each with that scene's images (its views). Each scene's
exports go to out/<scene>/, and out/summary.json lists every scene, with the error of each that
failed (a corrupt image, ...) while the others completed. Without --address a local Ray
instance is started on this machine.
"""

import argparse
import os
import sys

import ray

from da3cpp.ray import run_scenes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes_root")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-o", "--out", default="da3_ray_out")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local instance)")
    ap.add_argument("--actors", type=int, default=2, help="actors, one loaded model each")
    ap.add_argument("--threads", type=int, default=1, help="CPUs (libda3 threads) per actor")
    ap.add_argument("-f", "--format", default="mini_npz", help="export_format, e.g. mini_npz-glb")
    ap.add_argument("--process-res", type=int, default=504)
    args = ap.parse_args()

    scenes = sorted(os.path.join(args.scenes_root, d) for d in os.listdir(args.scenes_root)
                    if os.path.isdir(os.path.join(args.scenes_root, d)))
    ray.init(address=args.address)
    summary = run_scenes(scenes, args.model, args.out, num_actors=args.actors, threads_per_actor=args.threads,
                         export_format=args.format, process_res=args.process_res)
    print(f"{summary['ok']} of {len(scenes)} scenes done; summary in {summary['summary']}")
    for f in summary["failed"]:
        print(f"FAILED {f['scene']}: {f['error']}", file=sys.stderr)
    return 0 if not summary["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
