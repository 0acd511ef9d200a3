#!/usr/bin/env bash
# The main job (`make demo`, after the build): what this build is (`da3 info`), a short
# attention benchmark, and depth + cameras for the sample views in assets/samples/ with a
# checkpoint from $DA3_MODEL or $DA3_MODELS_DIR (default models/). Without a checkpoint it says
# how to get one and point at it, and runs the same pipeline on the tiny random-weight test
# checkpoint, into a folder named ...-RANDOM-WEIGHTS, so a new user sees the tool work offline.
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
models=${DA3_MODELS_DIR:-models}
if [ -n "${DA3_MODEL:-}" ]; then
  model=$DA3_MODEL
else
  # Official checkpoints first, smallest first (randomly initialised test checkpoints are skipped).
  for d in "$models"/DA3-SMALL "$models"/DA3-BASE "$models"/DA3-LARGE "$models"/DA3-GIANT "$models"/DA3*/; do
    d=${d%/}
    if [ -f "$d/config.json" ] && [ -f "$d/model.safetensors" ]; then model=$d; break; fi
  done
fi
if [ -n "$model" ]; then
  echo "== da3 infer assets/samples/*.png --model $model -> $OUT"
  # --overwrite: a rerun of the demo replaces exactly the files the previous one wrote.
  "$DA3" infer assets/samples/*.png --model "$model" -o "$OUT" -f npz,depth_png,ply,glb --overwrite
  exit 0
fi

# No checkpoint: say how to get one and how to point at it, then still run the whole pipeline,
# offline, on the committed tiny test checkpoint (random weights, 2 MB), so the tool is seen
# working end to end. Its depth is noise, and the output folder's name says so.
OUT=${DA3_DEMO_OUT:-out/demo}-RANDOM-WEIGHTS
fixture=tests/fixtures/tiny-anyview
cat <<EOM
== No DA3 checkpoint in $models/ or \$DA3_MODEL. To run the demo on real weights:
     $DA3 pull DA3-SMALL                 # Apache-2.0, 137 MB, into $models/DA3-SMALL
     make demo                           # finds $models/DA3-SMALL
   or, with a checkpoint folder elsewhere (config.json + model.safetensors):
     DA3_MODEL=/path/to/DA3-SMALL make demo

== Meanwhile, the whole pipeline on a RANDOM-WEIGHT model ($fixture, a tiny test checkpoint):
   the depth, cameras and points below are MEANINGLESS; only the tool is shown working.
== da3 infer assets/samples/*.png --model $fixture -> $OUT
EOM
start=$(date +%s.%N)
"$DA3" infer assets/samples/*.png --model "$fixture" -o "$OUT" -f npz,depth_png,ply,glb --overwrite
end=$(date +%s.%N)
echo "== RANDOM WEIGHTS: done in $(awk "BEGIN {printf \"%.1f\", $end - $start}") s (load, preprocess, forward, exports). Files written:"
(cd "$OUT" && find . -type f ! -name da3_manifest.json | sort | sed 's|^\./|     '"$OUT"'/|')
cat <<EOM
== View $OUT/scene.glb (points + cameras) in any glTF viewer: drop it on https://gltf-viewer.donmccurdy.com,
   or open it in Blender (File > Import > glTF 2.0) or MeshLab; points.ply opens in MeshLab or CloudCompare.
   With real weights (above) the same command gives real depth.
EOM
