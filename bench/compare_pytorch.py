#!/usr/bin/env python3
"""Side-by-side: the reference (PyTorch, CPU, fp32) vs `da3 bench model`, same checkpoint, same
input size and view count, same thread count, alternating runs in one invocation.

    tools/reference/.venv/bin/python bench/compare_pytorch.py --preset da3-small --size 504x378 --views 1
    tools/reference/.venv/bin/python bench/compare_pytorch.py --precision bf16   # + PyTorch bf16 autocast

--precision bf16 runs `da3 bench model --precision bf16` and, as a second reference beside the fp32
one, the reference under torch.autocast("cpu", dtype=torch.bfloat16) (how PyTorch users get bf16
on a CPU); ratios are printed against both, the depth difference against the fp32 reference.

Builds a random-weight checkpoint once (tools/reference/make_checkpoint.py) under models/random-<preset>,
then repeats: one timed reference forward (after a warm-up), one `da3 bench model --json` run.
Prints both medians, the ratio ours/PyTorch, each side's peak RSS, and the relative difference
of depth (da3 forward vs the reference on the same input). Exits 0 with a message when torch is
absent (run tools/reference/setup_env.sh first).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_bytes() -> int:
    """This process's own peak RSS (VmHWM): ru_maxrss would include the parent's peak from
    before execve."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reference_worker(args) -> int:
    """Runs in a child process so its peak RSS is its own."""
    import torch
    sys.path.insert(0, str(ROOT / "tools" / "reference"))
    import make_checkpoint as mc
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    wrapper = mc.build(args.preset, args.seed)
    w, h = (int(v) for v in args.size.split("x"))
    image = load_file(args.input)["image"]
    # Per-stage wall time through forward hooks on the reference's top-level modules.
    stage_ms: dict[str, float] = {}
    started: dict[str, float] = {}
    for name in ("backbone", "head", "cam_dec"):
        mod = getattr(wrapper.model, name, None)
        if mod is None:
            continue
        mod.register_forward_pre_hook(lambda m, a, n=name: started.__setitem__(n, time.perf_counter()))
        mod.register_forward_hook(
            lambda m, a, o, n=name: stage_ms.__setitem__(n, stage_ms.get(n, 0.0) + (time.perf_counter() - started[n]) * 1e3))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast)
    with torch.no_grad(), autocast:
        wrapper.model(image)  # warm-up
        times, cpu, stages = [], [], []
        for _ in range(args.repeat):
            stage_ms.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            out = wrapper.model(image)
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
            stages.append(dict(stage_ms))
    save_file({"depth": out["depth"].float().contiguous()}, args.ref_out)
    rss = peak_rss_bytes()
    mid = sorted(range(len(times)), key=times.__getitem__)[len(times) // 2]
    print(json.dumps({"median_ms": statistics.median(times), "median_cpu_ms": statistics.median(cpu),
                      "peak_rss_bytes": rss, "stages_ms": stages[mid]}))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="da3-small")
    ap.add_argument("--size", default="504x378", help="WIDTHxHEIGHT")
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (reference, ours)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per round and side")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--autocast", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cpu-time", action="store_true",
                    help="also compare process CPU time per forward (all threads), both sides with "
                         "OMP_WAIT_POLICY=PASSIVE: steadier than wall time when other jobs share the machine")
    ap.add_argument("--da3", default=str(ROOT / "build" / "release" / "da3"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--ref-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return reference_worker(args)
    try:
        import torch  # noqa: F401
        from safetensors.torch import load_file, save_file
    except ImportError:
        print("compare_pytorch: torch is not installed here; run tools/reference/setup_env.sh (skipped)")
        return 0

    model_dir = ROOT / "models" / f"random-{args.preset}"
    if not (model_dir / "model.safetensors").exists():
        subprocess.run([sys.executable, str(ROOT / "tools/reference/make_checkpoint.py"), "--preset", args.preset,
                        "--out", str(model_dir), "--seed", str(args.seed)], check=True)
    w, h = (int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="da3-compare-"))
    g = torch.Generator().manual_seed(7)
    image = torch.randn(1, args.views, 3, h, w, generator=g)
    save_file({"image": image}, str(tmp / "input.safetensors"))
    env = dict(os.environ, DA3_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    if args.cpu_time:
        env["OMP_WAIT_POLICY"] = "PASSIVE"

    def reference(autocast: bool, out: str) -> dict:
        cmd = [sys.executable, __file__, "--worker", "--preset", args.preset, "--size", args.size,
               "--threads", str(args.threads), "--repeat", str(args.repeat), "--seed", str(args.seed),
               "--input", str(tmp / "input.safetensors"), "--ref-out", str(tmp / out)]
        p = subprocess.run(cmd + (["--autocast"] if autocast else []), check=True, capture_output=True, text=True,
                           env=env)
        return json.loads(p.stdout.strip().splitlines()[-1])

    bf16 = args.precision == "bf16"
    ref_ms, ac_ms, ours_ms, ref_rss, ac_rss, ours_rss = [], [], [], 0, 0, 0
    ref_cpu, ac_cpu, ours_cpu = [], [], []
    ours, ref = {}, {}
    for r in range(args.rounds):
        ref = reference(False, "ref.safetensors")
        ref_ms.append(ref["median_ms"])
        ref_cpu.append(ref["median_cpu_ms"])
        ref_rss = max(ref_rss, ref["peak_rss_bytes"])
        if bf16:
            ac = reference(True, "ref_bf16.safetensors")
            ac_ms.append(ac["median_ms"])
            ac_cpu.append(ac["median_cpu_ms"])
            ac_rss = max(ac_rss, ac["peak_rss_bytes"])
        p = subprocess.run([args.da3, "bench", "model", "-m", str(model_dir), "--size", args.size, "--views",
                            str(args.views), "--repeat", str(args.repeat), "--precision", args.precision, "--json"],
                           check=True, capture_output=True, text=True, env=env)
        ours = json.loads(p.stdout.strip().splitlines()[-1])
        ours_ms.append(ours["median_ms"])
        ours_cpu.append(ours["median_cpu_ms"])
        ours_rss = max(ours_rss, ours["peak_rss_bytes"])
        extra = f", reference bf16 autocast {ac_ms[-1]:.0f} ms" if bf16 else ""
        print(f"round {r + 1}: reference {ref_ms[-1]:.0f} ms{extra}, da3 {ours_ms[-1]:.0f} ms", flush=True)

    subprocess.run([args.da3, "forward", "-m", str(model_dir), "-i", str(tmp / "input.safetensors"), "-o",
                    str(tmp / "ours.safetensors"), "--precision", args.precision],
                   check=True, capture_output=True, env=env)
    a = load_file(str(tmp / "ours.safetensors"))["depth"].double()
    b = load_file(str(tmp / "ref.safetensors"))["depth"].double()
    rel = float((a - b).norm() / b.norm())

    rm, om = statistics.median(ref_ms), statistics.median(ours_ms)
    print(f"\n{args.preset} {args.size} x{args.views} views, {args.threads} threads, da3.cpp in {args.precision}")
    print(f"  reference (PyTorch) fp32  median {rm:9.1f} ms   peak RSS {ref_rss / 1e6:7.0f} MB")
    if bf16:
        am = statistics.median(ac_ms)
        print(f"  reference bf16 autocast   median {am:9.1f} ms   peak RSS {ac_rss / 1e6:7.0f} MB")
    print(f"  da3.cpp {args.precision:17s} median {om:9.1f} ms   peak RSS {ours_rss / 1e6:7.0f} MB   "
          f"({ours.get('gflops', 0):.1f} GFLOP/s counted)")
    print(f"  ratio da3/PyTorch fp32    {om / rm:.2f}")
    if bf16:
        print(f"  ratio da3/PyTorch bf16    {om / am:.2f}")
        c = load_file(str(tmp / "ref_bf16.safetensors"))["depth"].double()
        print(f"  PyTorch bf16 autocast depth vs its fp32 (norm-wise) {float((c - b).norm() / b.norm()):.2e}")
    print(f"  depth rel. difference vs PyTorch fp32 (norm-wise) {rel:.2e}")
    if args.cpu_time:
        rc, oc = statistics.median(ref_cpu), statistics.median(ours_cpu)
        line = f"  CPU time per forward: PyTorch fp32 {rc:.1f} ms"
        if bf16:
            line += f", PyTorch bf16 autocast {statistics.median(ac_cpu):.1f} ms"
        line += f", da3.cpp {oc:.1f} ms; ratio da3/PyTorch fp32 {oc / rc:.2f}"
        if bf16:
            line += f", da3/PyTorch bf16 {oc / statistics.median(ac_cpu):.2f}"
        print(line)
    print("  stages (PyTorch, last round):", json.dumps({k: round(v, 1) for k, v in ref.get("stages_ms", {}).items()}))
    print("  stages (da3, last round):    ", json.dumps({k: round(v, 1) for k, v in ours.get("stages_ms", {}).items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
