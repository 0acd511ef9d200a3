#!/usr/bin/env python3
"""Time the reference network (depth-anything-3 0.1.1, PyTorch) on a checkpoint directory.

    python3 tools/gpu/torch_forward_bench.py --model models/random-da3-small \
        --views 1 4 --height 378 --width 504 --dtype bf16 fp32 --repeat 10 --json out/torch_bench.json \
        [--save-outputs out/torch_forward.safetensors] [--wheel gpu-wheels]

Loads the model as tools/gpu/da3_slim.py does (network built from config.json's model_name,
every tensor of model.safetensors loaded strictly), then for each (dtype, views) runs what the
official inference runs, `model.model(x, None, None, [], False, False, "saddle_balanced")` on a
(1, V, 3, H, W) input, under torch.inference_mode:

    bf16  torch.autocast(device_type, dtype=torch.bfloat16), fp32 weights, as the official
          DepthAnything3.forward does on a GPU with bf16 (its head and camera decoder run with
          autocast disabled, in the reference itself); TF32 flags left at torch's defaults
    fp32  no autocast; TF32 off (torch.backends.cuda.matmul.allow_tf32 = False,
          torch.backends.cudnn.allow_tf32 = False, float32 matmul precision "highest")

cudnn.benchmark is off, as depth_anything_3.api sets it. Each config: --warmup untimed runs,
then --repeat runs each bracketed by torch.cuda.synchronize(); prints one line with the median
(and min, mean) and the peak GPU memory (torch.cuda.max_memory_allocated, reset per config).
On a machine without CUDA it runs on the CPU (testing only; no memory figure).

The input is torch.randn(1, V, 3, H, W, generator=torch.Generator().manual_seed(--seed)) on the
CPU, then moved: with the default seed (1241 = make_checkpoint.py's 1234 + 7) it is the `image`
tools/reference/make_checkpoint.py --case HxWxV writes. --save-outputs FILE writes `image` and
every tensor output of the first run, float32, under the names of make_checkpoint.py's
forward_HxWxN.safetensors: depth, depth_conf, sky, pred_extrinsics, pred_intrinsics,
scale_factor, is_metric (those the preset has; the network's `extrinsics`/`intrinsics` get the
`pred_` prefix, so the file can be given as is to `da3 forward -i`, which would read plain
`extrinsics`/`intrinsics` as input cameras). One config: FILE; several: FILE with
`.<dtype>.<V>v` before the extension. The quantiles of the mono/nested sky fill draw from the
global RNG (torch.randint over >100 000 values), so the global seed is also set (--seed) before
each first run.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import da3_slim  # noqa: E402


def output_tensors(out, image):
    import torch
    tensors = {"image": image.detach().float().cpu().contiguous()}
    for k in ("depth", "depth_conf", "sky"):
        if k in out and isinstance(out[k], torch.Tensor):
            tensors[k] = out[k].detach().float().cpu().contiguous()
    for k in ("extrinsics", "intrinsics"):  # prefixed: `da3 forward -i` would read them as input cameras
        if k in out and isinstance(out[k], torch.Tensor):
            tensors["pred_" + k] = out[k].detach().float().cpu().contiguous()
    if "scale_factor" in out:
        tensors["scale_factor"] = torch.tensor([float(out["scale_factor"])], dtype=torch.float32)
    if "is_metric" in out:
        tensors["is_metric"] = torch.tensor([float(out["is_metric"])], dtype=torch.float32)
    return tensors


def outputs_path(base: Path, dtype: str, views: int, single: bool) -> Path:
    if single:
        return base
    return base.with_name(f"{base.stem}.{dtype}.{views}v{base.suffix}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="checkpoint directory (config.json + model.safetensors)")
    ap.add_argument("--views", type=int, nargs="+", default=[1], help="view counts (one config each)")
    ap.add_argument("--height", type=int, default=378)
    ap.add_argument("--width", type=int, default=504)
    ap.add_argument("--dtype", nargs="+", default=["bf16"], choices=["bf16", "fp32"], help="one config each")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per config (median reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs per config first (at least 1)")
    ap.add_argument("--seed", type=int, default=1241, help="input seed (default: make_checkpoint.py's for --seed 1234)")
    ap.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cuda, cuda:N, cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--save-outputs", type=Path, help="safetensors file for `image` + the first run's outputs")
    ap.add_argument("--wheel", help="depth_anything_3 wheel, or a folder of wheels (default: $DA3_GPU_WHEELS, "
                                    "else <repo>/gpu-wheels, else the installed packages)")
    args = ap.parse_args(argv)
    if args.height % 14 or args.width % 14:
        raise SystemExit("--height and --width must be multiples of 14 (the patch size)")
    args.warmup = max(1, args.warmup)

    da3_slim.setup_imports(args.wheel)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = False  # as depth_anything_3.api

    t0 = time.perf_counter()
    wrapper, model_name = da3_slim.load_model(args.model)
    load_s = time.perf_counter() - t0
    net = wrapper.model.to(device).eval()
    n_params = sum(p.numel() for p in net.parameters())
    dev_name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine())
    print(f"{model_name} ({n_params / 1e6:.1f} M parameters) from {args.model} in {load_s:.1f} s; "
          f"torch {torch.__version__} on {device} ({dev_name})", flush=True)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    configs = [(dt, v) for dt in args.dtype for v in args.views]
    results = []
    default_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                    torch.get_float32_matmul_precision())
    for dtype, views in configs:
        if dtype == "fp32":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")
        else:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = default_tf32[:2]
            torch.set_float32_matmul_precision(default_tf32[2])
        tf32 = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32,
                "float32_matmul_precision": torch.get_float32_matmul_precision()}
        image = torch.randn(1, views, 3, args.height, args.width, generator=torch.Generator().manual_seed(args.seed))
        x = image.to(device)
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=(dtype == "bf16"))

        def run():
            with torch.inference_mode(), autocast:
                return net(x, None, None, [], False, False, "saddle_balanced")

        if cuda:
            sync()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        torch.manual_seed(args.seed)
        sync()
        t = time.perf_counter()
        out = run()
        sync()
        first_ms = (time.perf_counter() - t) * 1e3
        if args.save_outputs:
            path = outputs_path(args.save_outputs, dtype, views, len(configs) == 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            tensors = output_tensors(out, image)
            meta = {"model": model_name, "model_dir": str(args.model), "dtype": dtype, "views": str(views),
                    "height": str(args.height), "width": str(args.width), "image_seed": str(args.seed),
                    "device": f"{device} ({dev_name})", "torch": torch.__version__,
                    "autocast": "bfloat16" if dtype == "bf16" else "off", "tf32": json.dumps(tf32, sort_keys=True)}
            da3_slim.save_safetensors(path, tensors, meta)
            print(f"  wrote {path}: {', '.join(f'{k} {tuple(v.shape)}' for k, v in tensors.items())}", flush=True)
        del out
        for _ in range(args.warmup - 1):
            run()
        times = []
        for _ in range(args.repeat):
            sync()
            t = time.perf_counter()
            run()
            sync()
            times.append((time.perf_counter() - t) * 1e3)
        peak = torch.cuda.max_memory_allocated(device) if cuda else None
        reserved = torch.cuda.max_memory_reserved(device) if cuda else None
        r = {"dtype": dtype, "views": views, "height": args.height, "width": args.width,
             "repeat": args.repeat, "warmup": args.warmup, "median_ms": statistics.median(times),
             "min_ms": min(times), "mean_ms": statistics.fmean(times), "times_ms": times, "first_run_ms": first_ms,
             "peak_mem_allocated_bytes": peak, "peak_mem_reserved_bytes": reserved, "tf32": tf32,
             "autocast": "bfloat16" if dtype == "bf16" else "off"}
        results.append(r)
        mem = f", peak GPU memory {peak / 2**20:.0f} MiB allocated ({reserved / 2**20:.0f} MiB reserved)" if cuda else ""
        print(f"{model_name} {dtype} {views} view(s) {args.height}x{args.width}: median {r['median_ms']:.2f} ms "
              f"(min {r['min_ms']:.2f}, mean {r['mean_ms']:.2f}, {args.repeat} runs; first run {first_ms:.0f} ms){mem}",
              flush=True)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"model": model_name, "model_dir": str(args.model), "parameters": n_params,
               "device": str(device), "device_name": dev_name, "torch": torch.__version__,
               "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
               "python": platform.python_version(), "input_seed": args.seed, "load_s": load_s,
               "cpu_threads": torch.get_num_threads(), "configs": results}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
