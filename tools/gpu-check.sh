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
# Environment: KILN_NVRTC / KILN_LIBCUDA override where libnvrtc / libcuda are found;
# GPU_CHECK_TEST_TIMEOUT, GPU_CHECK_BENCH_TIMEOUT (seconds) bound the parts.
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

# 1. the CUDA tests (GPU parts run only when cudaStatus() finds the device)
log=$(mktemp)
timeout "${GPU_CHECK_TEST_TIMEOUT:-240}" deno test -A tests/cuda_test.ts >"$log" 2>&1
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

# 3. PyTorch on the same card: the reference figures of the issue's targets
if python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  timeout 120 python3 - >>"$rows" 2>/dev/null <<'PY' || row "torch reference" "failed" "" ""
import torch
def timed(fn, reps=20):
    fn(); torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps): fn()
    end.record(); torch.cuda.synchronize()
    return start.elapsed_time(end) / reps / 1e3  # seconds
n = 256 * 2**20
x = torch.randn(n, device="cuda"); y = torch.empty_like(x)
t = timed(lambda: y.copy_(x))
print(f"torch d2d copy 256M f32\t{2 * 4 * n / t / 1e9:.0f}\tGB/s\tread+write")
t = timed(lambda: torch.tanh(x * 2 + 1) * x - torch.exp(-x))
print(f"torch eager chain 256M f32\t{t * 1e3:.2f}\tms\tunfused")
for dtype in (torch.float32, torch.bfloat16):
    a = torch.randn(8192, 8192, device="cuda", dtype=dtype); b = torch.randn_like(a)
    t = timed(lambda: a @ b, reps=10)
    name = str(dtype).replace("torch.", "")
    print(f"torch matmul 8192 {name}\t{2 * 8192**3 / t / 1e12:.0f}\tTFLOP/s\tcuBLAS")
PY
else
  row "torch reference" "skipped" "" "no PyTorch with CUDA"
fi

echo
column -t -s $'\t' <(printf 'check\tvalue\tunit\tnote\n'; cat "$rows") 2>/dev/null ||
  (printf 'check\tvalue\tunit\tnote\n'; cat "$rows")
exit "$test_status"
