#!/usr/bin/env python3
"""What the Python layer costs: import time, and forward() against `da3 bench model` on the
same model and input size, alternated in one run (docs/python.md, "Overhead").

    PYTHONPATH=build/release/python build/python-venv/bin/python bench/python_overhead.py \\
        -m models/DA3-SMALL [--size 504x378] [--rounds 3] [--repeat 3]

Each round times `da3 bench model --repeat R` (its own median of R forwards after a warm-up, in
a fresh process) and then R forwards through da3cpp.DepthAnything3.forward() in this process
(after the same warm-up), on random ImageNet-normalised input, so that machine drift hits both
alike. Prints each round and the medians over all runs, and their ratio; then the Python layer's
own per-call cost (forward()'s wall time minus the time Model::forward measured inside the same
call), which machine drift does not blur. On shared machines run
it when quiet (bench/run_when_quiet.sh): it is a comparison of two medians, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_time(python: str, n: int) -> tuple[float, float]:
    """Median wall time of `python -c "import da3cpp"` and of `python -c "pass"`, in ms."""
    def run(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, env=os.environ)
        return (time.perf_counter() - t) * 1e3
    base = statistics.median(run("pass") for _ in range(n))
    with_import = statistics.median(run("import da3cpp") for _ in range(n))
    return with_import, base


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True, help="model directory (DA3-SMALL for the documented numbers)")
    ap.add_argument("--size", default="504x378", help="WIDTHxHEIGHT, multiples of 14")
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="timed forwards per side and round")
    ap.add_argument("--da3", default=str(ROOT / "build" / "release" / "da3"), help="the da3 CLI of the same build")
    ap.add_argument("--import-runs", type=int, default=5)
    args = ap.parse_args()

    imp, base = import_time(sys.executable, args.import_runs)
    print(f"import da3cpp: {imp - base:.0f} ms (interpreter start {base:.0f} ms, both medians of {args.import_runs})")

    import numpy as np  # noqa: PLC0415

    import da3cpp  # noqa: PLC0415

    w, h = (int(v) for v in args.size.split("x"))
    t = time.perf_counter()
    model = da3cpp.DepthAnything3.from_pretrained(args.model)
    print(f"from_pretrained: {(time.perf_counter() - t) * 1e3:.0f} ms ({model.model_name})")
    x = np.random.default_rng(0).standard_normal((1, args.views, 3, h, w)).astype(np.float32)
    model.forward(x)  # warm-up, as da3 bench model does

    py_all, cli_all, layer_all = [], [], []
    for r in range(args.rounds):
        out = subprocess.run([args.da3, "bench", "model", "-m", args.model, "--size", args.size, "--views",
                              str(args.views), "--repeat", str(args.repeat), "--peak-gflops", "1", "--json"],
                             check=True, capture_output=True, text=True)
        cli = json.loads(out.stdout)
        cli_all.append(cli["median_ms"])
        py = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            model.forward(x)
            py.append((time.perf_counter() - t) * 1e3)
            st = model._core.last_stage_times()  # Model::forward's own time, measured inside it
            inside = st["backbone_ms"] + st["head_ms"] + st["camera_ms"] + st["other_ms"]
            layer_all.append(py[-1] - inside)
        py_all.extend(py)
        print(f"round {r + 1}: da3 bench model median {cli['median_ms']:.1f} ms | "
              f"python forward() {' '.join(f'{v:.1f}' for v in py)} ms (median {statistics.median(py):.1f})")
    py_med, cli_med = statistics.median(py_all), statistics.median(cli_all)
    print(f"median: python forward() {py_med:.1f} ms, da3 bench model {cli_med:.1f} ms, "
          f"ratio {py_med / cli_med:.3f} ({(py_med / cli_med - 1) * 100:+.1f} %)")
    # The Python layer's own cost per call, immune to machine drift: the wall time of forward()
    # in Python minus the time Model::forward measured inside the same call (argument
    # conversion, GIL release, output wrapping).
    print(f"per-call overhead of the Python layer: median {statistics.median(layer_all):.2f} ms, "
          f"max {max(layer_all):.2f} ms over {len(layer_all)} calls "
          f"({statistics.median(layer_all) / py_med * 100:.3f} % of a forward)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
