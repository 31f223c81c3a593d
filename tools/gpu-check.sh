#!/usr/bin/env bash
# Kiln's GPU check, for a machine with an NVIDIA GPU (an H100 in mind): runs the CUDA tests,
# the CUDA benchmarks when present, and PyTorch's reference figures on the same card, and
# prints one table last. Budget: under 8 minutes (each part has its own timeout).
#
# The GPU machine may have CUDA, cuBLAS, PyTorch and JAX but no Deno and no package registry.
# On the development machine, first:   ../shared/tools/device-prep.sh
# (it bundles Deno and node_modules into .device/); carry .device/ and node_modules/ along, then
# on the GPU machine, from the project's root:   tools/gpu-check.sh
#
# Environment: KILN_NVRTC / KILN_LIBCUDA / KILN_CUBLAS override where libnvrtc / libcuda /
# libcublas are found (KILN_CUBLAS=0: matmuls through the rendered kernel);
# GPU_CHECK_TEST_TIMEOUT, GPU_CHECK_BENCH_TIMEOUT, GPU_CHECK_TRAIN_TIMEOUT (seconds) bound the
# parts.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -f .device/env.sh ] && source .device/env.sh
export NO_COLOR=1 KILN_CACHE_DIR="${KILN_CACHE_DIR:-$root/.kiln-cache}"
rows=$(mktemp) # name<TAB>value<TAB>unit<TAB>note
trap 'rm -f "$rows"' EXIT
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$rows"; }

if ! command -v deno >/dev/null 2>&1; then
  echo "gpu-check: no deno; run ../shared/tools/device-prep.sh on the development machine and carry .device/" >&2
  exit 1
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
row "gpu" "${gpu:-none found by nvidia-smi}" "" ""

# NVRTC: the toolkit's, else the pip wheel PyTorch depends on (nvidia-cuda-nvrtc-cu12)
if [ -z "${KILN_NVRTC:-}" ]; then
  for dir in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 \
    $(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(nvidia.cuda_nvrtc.__path__[0], "lib"))' 2>/dev/null); do
    if ls "$dir"/libnvrtc.so* >/dev/null 2>&1; then
      export KILN_NVRTC="$dir"
      break
    fi
  done
fi
row "nvrtc" "${KILN_NVRTC:-loader path}" "" ""
# cuBLAS: the toolkit's (found by Kiln itself), else PyTorch's pip wheel (nvidia-cublas-cu12)
if [ -z "${KILN_CUBLAS:-}" ] && ! ls /usr/local/cuda*/lib64/libcublas.so* >/dev/null 2>&1; then
  dir=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null)
  [ -n "$dir" ] && ls "$dir"/libcublas.so* >/dev/null 2>&1 && export KILN_CUBLAS="$dir"
fi
row "cublas" "${KILN_CUBLAS:-toolkit or loader path}" "" ""

# 1. the CUDA tests (GPU parts run only when cudaStatus() finds the device)
log=$(mktemp)
timeout "${GPU_CHECK_TEST_TIMEOUT:-240}" deno test -A tests/cuda_test.ts tests/cuda_matmul_test.ts \
  tests/cuda_half_test.ts tests/cuda_device_test.ts tests/cuda_graph_test.ts >"$log" 2>&1
test_status=$?
status=$test_status
summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
grep -E 'CUDA available|CUDA is unavailable|skipped' "$log" | sed 's/^ */  /' | head -n 5
row "cuda tests" "${summary:-no summary (exit $status)}" "" "$([ "$status" -eq 124 ] && echo timed out)"
if [ "$status" -ne 0 ]; then
  grep -E 'FAILED|error' "$log" | head -n 20
fi
rm -f "$log"

# 2. Kiln's CUDA benchmarks, when they exist: each line "name<TAB>value<TAB>unit<TAB>note"
if [ -f bench/cuda.ts ]; then
  out=$(timeout "${GPU_CHECK_BENCH_TIMEOUT:-180}" deno run -A bench/cuda.ts --tsv 2>&1)
  grep -P '^[^\t]+\t[^\t]+\t' <<<"$out" >>"$rows" || row "kiln bench" "failed" "" "$(tail -n 1 <<<"$out")"
else
  row "kiln bench" "skipped" "" "bench/cuda.ts not written yet"
fi

# 2b. the user's job on the GPU: deno task train --device cuda, one epoch of each model
for model in mlp cnn; do
  out=$(timeout "${GPU_CHECK_TRAIN_TIMEOUT:-90}" deno run -A cli/train.ts --device cuda \
    --model "$model" --epochs 1 --out "$(mktemp -d)" 2>&1)
  line=$(grep -E '^epoch 1/1' <<<"$out" | tail -n 1)
  if [ -n "$line" ]; then
    row "kiln train $model 1 epoch" "$(grep -oE '[0-9]+ ex/s' <<<"$line" | grep -oE '[0-9]+')" \
      "ex/s" "$(grep -oE 'test [0-9.]+%' <<<"$line")"
  else
    row "kiln train $model 1 epoch" "failed" "" "$(tail -n 1 <<<"$out" | cut -c1-160)"
  fi
done

# 3. PyTorch (cuBLAS, copy bandwidth) and JAX (the jitted MLP step) on the same card
if python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  timeout 150 python3 tools/gpu_check/torch_reference.py >>"$rows" 2>/dev/null ||
    row "torch reference" "failed" "" ""
else
  row "torch reference" "skipped" "" "no PyTorch with CUDA"
fi
if python3 -c 'import jax; jax.devices("gpu")' >/dev/null 2>&1; then
  timeout 150 python3 tools/gpu_check/jax_reference.py >>"$rows" 2>/dev/null ||
    row "jax reference" "failed" "" ""
else
  row "jax reference" "skipped" "" "no JAX with a GPU backend"
fi

# 4. the issue's targets as ratios of figures measured above (kiln / reference)
value() { awk -F'\t' -v name="$1" '$1 == name { print $2; exit }' "$rows"; }
ratio() { # name, kiln row, reference row, "higher" (throughput) or "lower" (time), target
  local k r
  k=$(value "$2")
  r=$(value "$3")
  if [[ "$k" =~ ^[0-9.]+$ && "$r" =~ ^[0-9.]+$ ]]; then
    awk -v k="$k" -v r="$r" -v how="$4" -v name="$1" -v target="$5" 'BEGIN {
      p = (how == "higher") ? 100 * k / r : 100 * r / k
      printf "%s\t%.0f\t%%\ttarget %s\n", name, p, target }' >>"$rows"
  fi
}
ratio "matmul f32 vs torch" "kiln matmul 8192 float32" "torch matmul 8192 float32" higher ">= 90 %"
ratio "matmul bf16 vs torch" "kiln matmul 8192 bfloat16" "torch matmul 8192 bfloat16" higher ">= 90 %"
for b in 128 4096; do
  ratio "MLP step b$b: jax(f32)/kiln time" "kiln jit MLP step batch $b" \
    "jax jit MLP step batch $b (highest)" lower ">= 100 %"
  ratio "MLP step b$b: jax(default)/kiln(TF32)" "kiln jit MLP step batch $b (TF32)" \
    "jax jit MLP step batch $b (default)" lower ">= 100 %"
done

echo
column -t -s $'\t' <(printf 'check\tvalue\tunit\tnote\n'; cat "$rows") 2>/dev/null ||
  (printf 'check\tvalue\tunit\tnote\n'; cat "$rows")
exit "$test_status"
