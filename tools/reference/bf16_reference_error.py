#!/usr/bin/env python3
"""How far the reference itself moves under bf16: every case of the tiny fixtures
(make_fixtures.py) rerun under torch.autocast("cpu", dtype=torch.bfloat16) — PyTorch's own
bf16 path — against the stored fp32 outputs, as the norm-wise relative error the C++ bf16
tests use. The yardstick for da3.cpp's --precision bf16 on random-weight tiny models, whose
activations are not a trained network's (tests/test_precision_bf16.cpp, docs/perf.md).

    tools/reference/.venv/bin/python tools/reference/bf16_reference_error.py [--write]

--write stores the table as tests/fixtures/bf16_reference_error.json, which the C++ test reads:
its tolerance per case is max(1e-2, 3 x PyTorch's own bf16 error there).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_nested_fixture as mn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("depth", "depth_conf", "sky", "pred_extrinsics", "pred_intrinsics")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def row(table: dict, fixture: str, case: str, out: dict, stored: dict) -> None:
    errs = {k: rel(out[k].float(), stored[k]) for k in KEYS if k in out and k in stored}
    table.setdefault(fixture, {})[case] = errs
    cells = [f"{errs[k]:15.2e}" if k in errs else f"{'-':>15s}" for k in KEYS]
    print(f"{fixture + '/' + case:40s} " + " ".join(cells))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write tests/fixtures/bf16_reference_error.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    # compute_case checks that the fp32 fixture keeps sky values off the threshold; a bf16
    # rerun may land near it, which is part of what is measured here, not an error.
    mf.SKY_MARGIN = -1.0
    table: dict = {}
    print(f"{'fixture/case':40s} " + " ".join(f"{k:>15s}" for k in KEYS))
    for name, spec in mf.FIXTURES.items():
        fixture_dir = ROOT / "tests" / "fixtures" / name
        net = mf.load_fixture_net(spec, fixture_dir)
        for case in spec.cases:
            stored = load_file(str(mf.case_file(fixture_dir, case)))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                _, _, out = mf.compute_case(net, spec, case)
            row(table, name, case.name, out, stored)
    # The nested fixture: rebuilt from its seeds (make_nested_fixture.py), checked against its file.
    net, _ = mn.build()
    for case, views, h, w, seed in mn.CASES:
        stored = load_file(str(ROOT / "tests" / "fixtures" / mn.NAME / f"forward_{case}.safetensors"))
        g = torch.Generator().manual_seed(seed)
        image = mf.make_image(mf.Case(case, views=views, height=h, width=w, seed=seed), g)
        with torch.no_grad():
            ref = net(image)
            # Not bitwise: another torch version may round differently; the same network, though.
            assert rel(ref["depth"].float(), stored["depth"]) < 1e-5, "nested rebuild differs from its fixture"
            with torch.autocast("cpu", dtype=torch.bfloat16):
                o = net(image)
        out = {"depth": o["depth"], "depth_conf": o["depth_conf"], "pred_extrinsics": o["extrinsics"],
               "pred_intrinsics": o["intrinsics"]}
        row(table, mn.NAME, case, out, stored)
    if args.write:
        path = ROOT / "tests" / "fixtures" / "bf16_reference_error.json"
        doc = {"what": "norm-wise relative error of the reference under torch.autocast(cpu, bfloat16) vs its "
                       "fp32 fixture outputs (tools/reference/bf16_reference_error.py)",
               "torch": torch.__version__, "errors": table}
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
