"""PyTorch reference figures for tools/gpu-check.sh: device-to-device copy bandwidth, the
unfused elementwise chain, and cuBLAS matmuls (float32 without TF32, bfloat16) at n = 8192.
Prints name<TAB>value<TAB>unit<TAB>note rows. REF_DEVICE (default cuda) and REF_SMALL=1 (tiny
sizes) let it be checked on a CPU-only machine."""
import os
import time

import torch

device = os.environ.get("REF_DEVICE", "cuda")
small = os.environ.get("REF_SMALL") == "1"
torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, as in Kiln


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps=20):
    """Best seconds per call of `reps` calls after a warm-up."""
    fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


n = 2**20 if small else 256 * 2**20
x = torch.randn(n, device=device)
y = torch.empty_like(x)
t = timed(lambda: y.copy_(x))
print(f"torch d2d copy 256M f32\t{2 * 4 * n / t / 1e9:.0f}\tGB/s\tread+write")
t = timed(lambda: torch.tanh(x * 2 + 1) * x - torch.exp(-x))
print(f"torch eager chain 256M f32\t{t * 1e3:.2f}\tms\tunfused")
size = 256 if small else 8192
for dtype in (torch.float32, torch.bfloat16):
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn_like(a)
    t = timed(lambda: a @ b, reps=10)
    name = str(dtype).replace("torch.", "")
    print(f"torch matmul 8192 {name}\t{2 * size**3 / t / 1e12:.2f}\tTFLOP/s\tcuBLAS")
