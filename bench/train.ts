/**
 * Training throughput: the MNIST MLP (784-512-512-10) and CNN of `deno task train` at batch
 * 128 with SGD + momentum, examples/s and time per 8,000-example epoch, against PyTorch on the
 * same machine when Debian's python3-torch is installed (run through /usr/bin/python3).
 * @module
 */

import { grad, jit, nn, np, optim, random, type Tensor } from "../mod.ts";
import { buildModel } from "../cli/models.ts";
import { report } from "./util.ts";

const TORCH_SCRIPT = `
import time, sys, torch, torch.nn as nn
torch.set_num_threads(2)
kind = sys.argv[1]
if kind == "mlp":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
else:
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64*7*7, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(128, 1, 28, 28); y = torch.randint(0, 10, (128,))
loss_fn = nn.CrossEntropyLoss()
def step():
    opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
for _ in range(5): step()
n = 30 if kind == "mlp" else 6
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    for _ in range(n): step()
    best = min(best, (time.perf_counter() - t) / n)
print(128 / best)
`;

function torchExamplesPerSecond(kind: string): number | null {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: ["-c", TORCH_SCRIPT, kind],
      stdout: "piped",
      stderr: "piped",
    })
      .outputSync();
    if (!out.success) return null;
    return Number(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}

/** Runs the training benchmarks. */
export function benchTrain(): void {
  for (const kind of ["mlp", "cnn"] as const) {
    const model = buildModel(kind);
    let params = model.init(random.key(0));
    const opt = optim.sgd(0.01, { momentum: 0.9 });
    let state = opt.init(params);
    const x = random.uniform(random.key(1), [128, 28, 28]);
    const y = random.randint(random.key(2), [128], 0, 10);
    const loss = (p: unknown, xb: Tensor, yb: Tensor) =>
      np.mean(nn.softmaxCrossEntropy(model.apply(p, xb), yb));
    const step = jit((p: unknown, s: unknown, xb: Tensor, yb: Tensor) => {
      const g = grad(loss)(p, xb, yb);
      const [updates, s2] = opt.update(g, s, p);
      return [optim.applyUpdates(p, updates), s2];
    }, { donateArgnums: [0, 1] });
    const run = (n: number) => {
      for (let i = 0; i < n; i++) [params, state] = step(params, state, x, y) as [unknown, unknown];
    };
    run(3);
    const n = kind === "mlp" ? 30 : 6;
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      run(n);
      best = Math.min(best, (performance.now() - t0) / n);
    }
    const rate = (128 / best) * 1000;
    report(`train ${kind} b128: examples/s`, rate, "ex/s");
    report(`train ${kind}: 8,000-example epoch`, (8000 / rate) * 1000, "ms");
    const torch = torchExamplesPerSecond(kind);
    if (torch !== null) {
      report(`train ${kind}: PyTorch examples/s`, torch, "ex/s");
      report(`train ${kind}: Kiln / PyTorch throughput`, rate / torch, "x");
    } else {console.log(
        `train ${kind}: PyTorch not installed (apt-get install python3-torch) — no comparison`,
      );}
  }
}
