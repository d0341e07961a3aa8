#!/bin/sh
# bench/gpu.sh: ghmdet on an NVIDIA GPU through GoMLX's XLA backend, as one
# short command for a GPU machine.
#
# Build beforehand, on any Linux x86-64 machine with gcc:
#   make build-xla          # bin/ghmdet-xla
# then, on the GPU machine, from the repository root:
#   bench/gpu.sh [BCCD folder]
#
# The GPU machine needs JAX with its CUDA PJRT plugin
# (site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so and the nvidia/
# libraries of pip's CUDA packages). The script finds the plugin with the
# Python of $PYTHON (default python3), or takes $PJRT_CUDA_PLUGIN, points the
# backend at it (GHMDET_BACKEND=xla:/path/to/plugin.so; the CUDA data folder
# through XLA_FLAGS), then prints the GPU, runs "ghmdet bench r50-512" and a
# 2-minute training of the cpu preset on BCCD (Pascal VOC; default
# ../shared/data/bccd, else shared/data/bccd; the built-in shapes dataset
# when neither exists) with its evaluation, and prints the figures.
# Outputs go to $OUT (default runs/gpu). It never downloads anything.
set -eu

BIN=${GHMDET_XLA_BIN:-bin/ghmdet-xla}
PY=${PYTHON:-python3}
OUT=${OUT:-runs/gpu}
BUDGET=${BUDGET:-2m}

if [ ! -x "$BIN" ]; then
	echo "gpu.sh: $BIN not found: run \"make build-xla\" first" >&2
	exit 2
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
	echo "gpu.sh: nvidia-smi not found: this script needs an NVIDIA GPU" >&2
	exit 2
fi

plugin=${PJRT_CUDA_PLUGIN:-}
if [ -z "$plugin" ]; then
	plugin=$("$PY" - <<'PYEOF' 2>/dev/null || true
import glob, os, site, sys
dirs = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
for d in dirs:
    for p in sorted(glob.glob(os.path.join(d, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so")), reverse=True):
        print(os.path.realpath(p))
        sys.exit(0)
PYEOF
)
fi
if [ -z "$plugin" ] || [ ! -f "$plugin" ]; then
	echo "gpu.sh: JAX's CUDA PJRT plugin not found (pip install \"jax[cuda13]\", or set PJRT_CUDA_PLUGIN)" >&2
	exit 2
fi
# pip's CUDA packages live in site-packages/nvidia, two folders above
# jax_plugins/xla_cuda*/; XLA looks for ptxas and libdevice there.
site=$(dirname "$(dirname "$(dirname "$plugin")")")
cuda_dir="$site/nvidia/cuda_nvcc"
[ -d "$cuda_dir" ] || cuda_dir="$site/nvidia"
if [ -d "$cuda_dir" ]; then
	export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_cuda_data_dir=$cuda_dir"
fi
export GHMDET_BACKEND="xla:$plugin"
export GOMLX_NO_AUTO_INSTALL=1

data=${1:-}
if [ -z "$data" ]; then
	for d in ../shared/data/bccd shared/data/bccd; do
		if [ -d "$d" ]; then
			data=$d
			break
		fi
	done
fi
mkdir -p "$OUT"

echo "== GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== ghmdet"
"$BIN" version
echo "backend: $GHMDET_BACKEND"
echo "XLA_FLAGS: ${XLA_FLAGS:-}"

echo "== bench r50-512 (ResNet-50 FPN, 512x512: training step and inference)"
"$BIN" bench --runs 5 --warmup 2 r50-512 cpu | tee "$OUT/bench.txt"

echo "== training: cpu preset, $BUDGET budget"
if [ -z "$data" ]; then
	echo "(BCCD not found: the built-in shapes dataset instead)"
	"$BIN" data synth --out "$OUT/shapes" >/dev/null
	train_args="--data $OUT/shapes/annotations/instances_train.json --val $OUT/shapes/annotations/instances_val.json"
else
	echo "data: $data"
	train_args="--data $data"
fi
rm -rf "$OUT/train"
start=$(date +%s)
# shellcheck disable=SC2086
"$BIN" train $train_args --preset cpu --time-budget "$BUDGET" --out "$OUT/train" 2>&1 | tail -n 5
end=$(date +%s)
echo "training wall time: $((end - start)) s"
if [ -f "$OUT/train/results.csv" ]; then
	echo "results.csv (last rows):"
	tail -n 3 "$OUT/train/results.csv"
fi
echo "== GPU after the runs"
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader
