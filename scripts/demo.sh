#!/usr/bin/env bash
# The main job (`make demo`, after the build): what this build is (`da3 info`), a short
# attention benchmark, and depth + cameras for the sample views in assets/samples/ with a
# checkpoint from $DA3_MODEL or models/. Without a checkpoint it says in one line how to get
# one and still succeeds: the rest of the demo needs none.
set -euo pipefail
cd "$(dirname "$0")/.."
DA3=${DA3:-build/release/da3}
OUT=${DA3_DEMO_OUT:-out/demo}

echo "== da3 info"
"$DA3" info

echo
echo "== da3 bench attention (ViT-S heads, 256 and 1024 tokens)"
# Small on purpose: seconds on 2 cores. `da3 bench attention` with no options runs the full table.
"$DA3" bench attention --tokens 256 1024 --heads 6 --repeat 3

echo
model=""
if [ -n "${DA3_MODEL:-}" ]; then
  model=$DA3_MODEL
else
  # Official checkpoints first, smallest first (randomly initialised test checkpoints are skipped).
  for d in models/DA3-SMALL models/DA3-BASE models/DA3-LARGE models/DA3-GIANT models/DA3*/; do
    d=${d%/}
    if [ -f "$d/config.json" ] && [ -f "$d/model.safetensors" ]; then model=$d; break; fi
  done
fi
if [ -z "$model" ]; then
  echo "== da3 infer skipped: no checkpoint in models/ or \$DA3_MODEL; get DA3-SMALL (Apache-2.0) with: $DA3 pull DA3-SMALL"
  exit 0
fi
echo "== da3 infer assets/samples/*.png --model $model -> $OUT"
# --overwrite: a rerun of the demo replaces exactly the files the previous one wrote.
"$DA3" infer assets/samples/*.png --model "$model" -o "$OUT" -f npz,depth_png,ply,glb --overwrite
