"""Reference timings for bench/compare.ts: runs every case of one library (numpy or torch).

Reads the cases as JSON on stdin: [{"name", "inputs": [{"shape", "dtype", "fill"}], "numpy",
"torch"}], where "numpy"/"torch" are Python expressions over the inputs a, b, c, d (or null
when the library has no such op). Prints {"library", "threads", "ms": {name: best ms per call}}.
Timing matches bench/compare.ts: calibrate a loop to ~2 ms per sample, best of the samples.
"""

import json
import sys
import time

import numpy as np

LIBRARY = sys.argv[1]
SAMPLES = int(sys.argv[2]) if len(sys.argv) > 2 else 7
torch = None
if LIBRARY == "torch":
    import torch

    torch.set_num_threads(2)
    torch.set_grad_enabled(False)

rng = np.random.default_rng(0)


def make_input(spec):
    shape, dtype, fill = spec["shape"], spec["dtype"], spec["fill"]
    if fill == "positive":
        x = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    elif fill == "bool":
        x = rng.uniform(-1, 1, shape) > 0
    elif fill.startswith("index:"):
        x = rng.integers(0, int(fill[6:]), shape).astype(np.int64 if torch else np.int32)
    else:
        x = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    if dtype == "float64":
        x = x.astype(np.float64)
    if torch is not None:
        return torch.from_numpy(np.ascontiguousarray(x))
    return x


def time_best(fn):
    fn()
    reps = 1
    while True:  # calibrate: one sample takes at least ~2 ms
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        dt = time.perf_counter() - t0
        if dt > 0.002 or reps >= 1 << 16:
            break
        reps *= 4
    best = dt / reps
    for _ in range(SAMPLES - 1):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1000


def main():
    cases = json.load(sys.stdin)
    env = {"np": np, "torch": torch}
    if torch is not None:
        env["F"] = torch.nn.functional
    out = {}
    for case in cases:
        expr = case.get(LIBRARY)
        if not expr:
            continue
        inputs = [make_input(s) for s in case["inputs"]]
        scope = dict(env, **dict(zip("abcd", inputs)))
        fn = eval("lambda: " + expr, scope)
        out[case["name"]] = time_best(fn)
    threads = torch.get_num_threads() if torch is not None else None
    print(json.dumps({"library": LIBRARY, "threads": threads, "ms": out}))


main()
