#!/usr/bin/env bash
# The GPU run of issue 12, prepared for a machine with an NVIDIA GPU, CuPy (cupy-cuda12x/13x) and PyTorch with
# CUDA (no network needed). From the repository root:   bash bench/gpu.sh
#   1. the whole test suite with TAPEFLOW_BACKEND=cupy (every test on the GPU backend; tests/gpu included),
#   2. the GPU benchmarks (bench/gpu.py: tapeflow on CuPy vs PyTorch eager CUDA, TF32 off for both),
# writing bench/results/gpu-tests-<time>.txt, the suite's JSON (bench/results/gpu-<time>.json) and
# bench/results/gpu-env-<time>.txt (GPU, driver, library versions). Exit status: the tests' (benchmarks run
# even when tests fail, so one run gives both).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
OUT=bench/results
mkdir -p "$OUT"
export MPLBACKEND=Agg CI="${CI:-true}"
unset CUPY_TF32

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not found"
  "$PY" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__); cupy.show_config()" 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
} > "$OUT/gpu-env-$STAMP.txt"
cat "$OUT/gpu-env-$STAMP.txt"

echo "== tests with TAPEFLOW_BACKEND=cupy"
TAPEFLOW_BACKEND=cupy "$PY" -m pytest -p no:cacheprovider -q -rs --durations=20 tests tapeflow \
  2>&1 | tee "$OUT/gpu-tests-$STAMP.txt"
status=${PIPESTATUS[0]}

echo "== GPU benchmarks"
"$PY" -m bench gpu --out "$OUT" 2>&1 | tee "$OUT/gpu-bench-$STAMP.txt"
exit "$status"
