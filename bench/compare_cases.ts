/**
 * The cases of the `compare` bench (bench/compare.ts): each a Kiln function and the same
 * operation as a NumPy and a PyTorch expression over the inputs a, b, c, d.
 * @module
 */

import { lax, nn, np, type Tensor } from "../mod.ts";

/** One input: shape, dtype and what values it holds. */
export interface Input {
  shape: number[];
  dtype?: "float32" | "float64";
  /** "uniform" in [-1, 1), "positive" in [0.5, 2), "bool", or "index:N" (ints below N). */
  fill?: string;
}

/** One compared operation. */
export interface Case {
  name: string;
  inputs: Input[];
  kiln: (...xs: Tensor[]) => Tensor;
  /** Also time `jit(kiln)`. */
  jit?: boolean;
  /** Python expressions over the inputs a, b, c, d; null where the library lacks the op. */
  numpy: string | null;
  torch: string | null;
}

const K = 1024, M = K * K, M16 = 16 * M;
const u = (...shape: number[]): Input => ({ shape });
const pos = (...shape: number[]): Input => ({ shape, fill: "positive" });

// expressions shared by NumPy and PyTorch
const same = (expr: string) => ({ numpy: expr, torch: expr });

function unaryCases(): Case[] {
  const out: Case[] = [];
  const ops: [string, (x: Tensor) => Tensor, string, string, boolean][] = [
    ["exp", np.exp, "np.exp(a)", "torch.exp(a)", false],
    ["log", np.log, "np.log(a)", "torch.log(a)", true],
    ["tanh", np.tanh, "np.tanh(a)", "torch.tanh(a)", false],
    ["sqrt", np.sqrt, "np.sqrt(a)", "torch.sqrt(a)", true],
    ["sigmoid", nn.sigmoid, "1 / (1 + np.exp(-a))", "torch.sigmoid(a)", false],
  ];
  for (const [name, f, npExpr, tExpr, positive] of ops) {
    for (const [label, n] of [["1K", K], ["1M", M]] as const) {
      out.push({
        name: `${name} ${label}`,
        inputs: [positive ? pos(n) : u(n)],
        kiln: f,
        numpy: npExpr,
        torch: tExpr,
      });
    }
  }
  out.push({
    name: "exp 16M",
    inputs: [u(M16)],
    kiln: np.exp,
    numpy: "np.exp(a)",
    torch: "torch.exp(a)",
  });
  return out;
}

function binaryCases(): Case[] {
  return [
    { name: "add 1K", inputs: [u(K), u(K)], kiln: np.add, ...same("a + b") },
    { name: "add 1M", inputs: [u(M), u(M)], kiln: np.add, ...same("a + b") },
    { name: "mul 16M", inputs: [u(M16), u(M16)], kiln: np.multiply, ...same("a * b") },
    { name: "add 1024² + row", inputs: [u(K, K), u(1, K)], kiln: np.add, ...same("a + b") },
    { name: "add 1024² + column", inputs: [u(K, K), u(K, 1)], kiln: np.add, ...same("a + b") },
    { name: "mul scalar 1M", inputs: [u(M)], kiln: (a) => a.mul(2.5), ...same("a * 2.5") },
    {
      name: "maximum 1M",
      inputs: [u(M), u(M)],
      kiln: np.maximum,
      numpy: "np.maximum(a, b)",
      torch: "torch.maximum(a, b)",
    },
    {
      name: "relu maximum(x, 0) 1M",
      inputs: [u(M)],
      kiln: (a) => np.maximum(a, 0),
      numpy: "np.maximum(a, 0)",
      torch: "torch.relu(a)",
    },
    {
      name: "where 1M",
      inputs: [{ shape: [M], fill: "bool" }, u(M), u(M)],
      kiln: np.where,
      numpy: "np.where(a, b, c)",
      torch: "torch.where(a, b, c)",
    },
    { name: "greater 1M", inputs: [u(M), u(M)], kiln: np.greater, ...same("a > b") },
    {
      name: "x*y+z fused 1M",
      inputs: [u(M), u(M), u(M)],
      kiln: (a, b, c) => a.mul(b).add(c),
      jit: true,
      ...same("a * b + c"),
    },
  ];
}

function reductionCases(): Case[] {
  const out: Case[] = [
    {
      name: "sum all 1K",
      inputs: [u(K)],
      kiln: (a) => np.sum(a),
      numpy: "a.sum()",
      torch: "a.sum()",
    },
    {
      name: "sum all 16M",
      inputs: [u(M16)],
      kiln: (a) => np.sum(a),
      numpy: "a.sum()",
      torch: "a.sum()",
    },
    {
      name: "mean all 1M",
      inputs: [u(M)],
      kiln: (a) => np.mean(a),
      numpy: "a.mean()",
      torch: "a.mean()",
    },
    {
      name: "max all 1M",
      inputs: [u(M)],
      kiln: (a) => np.max(a),
      numpy: "a.max()",
      torch: "a.max()",
    },
  ];
  for (const n of [256, 1024]) {
    for (const axis of [0, -1]) {
      out.push({
        name: `sum ${n}² axis ${axis}`,
        inputs: [u(n, n)],
        kiln: (a) => np.sum(a, axis),
        numpy: `a.sum(${axis})`,
        torch: `a.sum(${axis})`,
      });
    }
  }
  for (const axis of [0, 1, 2]) {
    out.push({
      name: `sum 64x256x64 axis ${axis}`,
      inputs: [u(64, 256, 64)],
      kiln: (a) => np.sum(a, axis),
      numpy: `a.sum(${axis})`,
      torch: `a.sum(${axis})`,
    });
  }
  // many short rows (per-row setup dominates): 1M elements as 262144x4 and 32768x32
  for (const [rows, len] of [[262144, 4], [32768, 32]]) {
    out.push(
      {
        name: `sum ${rows}x${len} axis -1`,
        inputs: [u(rows, len)],
        kiln: (a) => np.sum(a, -1),
        numpy: "a.sum(-1)",
        torch: "a.sum(-1)",
      },
      {
        name: `max ${rows}x${len} axis -1`,
        inputs: [u(rows, len)],
        kiln: (a) => np.max(a, -1),
        numpy: "a.max(-1)",
        torch: "a.amax(-1)",
      },
      {
        name: `argmax ${rows}x${len} axis -1`,
        inputs: [u(rows, len)],
        kiln: (a) => np.argmax(a, -1),
        numpy: "a.argmax(-1)",
        torch: "a.argmax(-1)",
      },
    );
  }
  for (const axis of [0, -1]) {
    out.push(
      {
        name: `mean 1024² axis ${axis}`,
        inputs: [u(K, K)],
        kiln: (a) => np.mean(a, axis),
        numpy: `a.mean(${axis})`,
        torch: `a.mean(${axis})`,
      },
      {
        name: `max 1024² axis ${axis}`,
        inputs: [u(K, K)],
        kiln: (a) => np.max(a, axis),
        numpy: `a.max(${axis})`,
        torch: `a.amax(${axis})`,
      },
      {
        name: `argmax 1024² axis ${axis}`,
        inputs: [u(K, K)],
        kiln: (a) => np.argmax(a, axis),
        numpy: `a.argmax(${axis})`,
        torch: `a.argmax(${axis})`,
      },
    );
  }
  out.push(
    {
      name: "cumsum 1M",
      inputs: [u(M)],
      kiln: (a) => np.cumsum(a),
      numpy: "np.cumsum(a)",
      torch: "torch.cumsum(a, 0)",
    },
    {
      name: "cumsum 1024² axis -1",
      inputs: [u(K, K)],
      kiln: (a) => np.cumsum(a, -1),
      numpy: "np.cumsum(a, -1)",
      torch: "torch.cumsum(a, -1)",
    },
    {
      name: "var all 1M",
      inputs: [u(M)],
      kiln: (a) => np.variance(a),
      jit: true,
      numpy: "a.var()",
      torch: "torch.var(a, unbiased=False)",
    },
    {
      name: "var 1024² axis -1",
      inputs: [u(K, K)],
      kiln: (a) => np.variance(a, -1),
      jit: true,
      numpy: "a.var(-1)",
      torch: "torch.var(a, -1, unbiased=False)",
    },
    {
      name: "std 1024² axis 0",
      inputs: [u(K, K)],
      kiln: (a) => np.std(a, 0),
      jit: true,
      numpy: "a.std(0)",
      torch: "torch.std(a, 0, unbiased=False)",
    },
    {
      name: "softmax 1024² axis -1",
      inputs: [u(K, K)],
      kiln: (a) => nn.softmax(a),
      jit: true,
      numpy: "(lambda e: e / e.sum(-1, keepdims=True))(np.exp(a - a.max(-1, keepdims=True)))",
      torch: "torch.softmax(a, -1)",
    },
    {
      name: "logsumexp 1024² axis -1",
      inputs: [u(K, K)],
      kiln: (a) => np.logsumexp(a, -1),
      jit: true,
      numpy: "(lambda m: m[:, 0] + np.log(np.exp(a - m).sum(-1)))(a.max(-1, keepdims=True))",
      torch: "torch.logsumexp(a, -1)",
    },
  );
  return out;
}

function matmulCases(): Case[] {
  const out: Case[] = [];
  for (const n of [64, 256, 1024]) {
    out.push({
      name: `matmul ${n}`,
      inputs: [u(n, n), u(n, n)],
      kiln: (a: Tensor, b: Tensor) => np.matmul(a, b),
      ...same("a @ b"),
    });
  }
  out.push(
    {
      name: "matmul batched 32x128x128",
      inputs: [u(32, 128, 128), u(32, 128, 128)],
      kiln: (a: Tensor, b: Tensor) => np.matmul(a, b),
      ...same("a @ b"),
    },
    {
      name: "matvec 1024² @ 1024",
      inputs: [u(K, K), u(K)],
      kiln: (a: Tensor, b: Tensor) => np.matmul(a, b),
      ...same("a @ b"),
    },
    {
      name: "conv2d 3x3 N8 32->64 56x56",
      inputs: [u(8, 32, 56, 56), u(64, 32, 3, 3)],
      kiln: (x, w) => lax.conv(x, w, [1, 1], "SAME"),
      numpy: null,
      torch: "F.conv2d(a, b, padding=1)",
    },
  );
  return out;
}

function structureCases(): Case[] {
  return [
    {
      name: "transpose copy 1024²",
      inputs: [u(K, K)],
      kiln: (a) => np.transpose(a),
      numpy: "np.ascontiguousarray(a.T)",
      torch: "a.t().contiguous()",
    },
    {
      name: "transpose copy 3-D (0,2,1)",
      inputs: [u(64, 256, 64)],
      kiln: (a) => np.transpose(a, [0, 2, 1]),
      numpy: "np.ascontiguousarray(a.transpose(0, 2, 1))",
      torch: "a.permute(0, 2, 1).contiguous()",
    },
    {
      name: "concatenate 2x512x1024 axis 0",
      inputs: [u(512, K), u(512, K)],
      kiln: (a, b) => np.concatenate([a, b], 0),
      numpy: "np.concatenate([a, b], 0)",
      torch: "torch.cat([a, b], 0)",
    },
    {
      name: "concatenate 2x1024x512 axis 1",
      inputs: [u(K, 512), u(K, 512)],
      kiln: (a, b) => np.concatenate([a, b], 1),
      numpy: "np.concatenate([a, b], 1)",
      torch: "torch.cat([a, b], 1)",
    },
    {
      name: "slice step x[::2] 1M (copy)",
      inputs: [u(M)],
      kiln: (a) => a.slice("::2"),
      numpy: "a[::2].copy()",
      torch: "a[::2].clone()",
    },
    {
      name: "slice 1024²[:, ::2] (copy)",
      inputs: [u(K, K)],
      kiln: (a) => a.slice(":", "::2"),
      numpy: "a[:, ::2].copy()",
      torch: "a[:, ::2].clone()",
    },
    {
      name: "take 1024 rows of 4096x256",
      inputs: [u(4096, 256), { shape: [1024], fill: "index:4096" }],
      kiln: (a, i) => np.take(a, i, 0),
      numpy: "np.take(a, b, 0)",
      torch: "torch.index_select(a, 0, b)",
    },
    {
      name: "sort 1M",
      inputs: [u(M)],
      kiln: (a) => np.sort(a),
      numpy: "np.sort(a)",
      torch: "torch.sort(a).values",
    },
    {
      name: "argsort 1M",
      inputs: [u(M)],
      kiln: (a) => np.argsort(a),
      numpy: "np.argsort(a)",
      torch: "torch.argsort(a)",
    },
    {
      name: "sort 1024² axis -1",
      inputs: [u(K, K)],
      kiln: (a) => np.sort(a, -1),
      numpy: "np.sort(a, -1)",
      torch: "torch.sort(a, -1).values",
    },
    {
      name: "astype f32->i32 1M",
      inputs: [u(M)],
      kiln: (a) => a.astype("int32"),
      numpy: "a.astype(np.int32)",
      torch: "a.int()",
    },
    {
      name: "astype f32->f64 1M",
      inputs: [u(M)],
      kiln: (a) => a.astype("float64"),
      numpy: "a.astype(np.float64)",
      torch: "a.double()",
    },
    {
      name: "arange 1M",
      inputs: [],
      kiln: () => np.arange(0, M, 1, { dtype: "float32" }),
      numpy: "np.arange(1048576, dtype=np.float32)",
      torch: "torch.arange(1048576, dtype=torch.float32)",
    },
    {
      name: "zeros 1M",
      inputs: [],
      kiln: () => np.zeros([M]),
      numpy: "np.zeros(1048576, np.float32)",
      torch: "torch.zeros(1048576)",
    },
    {
      name: "ones 16M",
      inputs: [],
      kiln: () => np.ones([M16]),
      numpy: "np.ones(16777216, np.float32)",
      torch: "torch.ones(16777216)",
    },
  ];
}

function latencyCases(): Case[] {
  return [
    { name: "tiny add 1 element", inputs: [u(1), u(1)], kiln: np.add, ...same("a + b") },
    { name: "tiny add 10 elements", inputs: [u(10), u(10)], kiln: np.add, ...same("a + b") },
    {
      name: "tiny sum 10 elements",
      inputs: [u(10)],
      kiln: (a) => np.sum(a),
      numpy: "a.sum()",
      torch: "a.sum()",
    },
    {
      name: "tiny exp 10 elements",
      inputs: [u(10)],
      kiln: np.exp,
      numpy: "np.exp(a)",
      torch: "torch.exp(a)",
    },
    {
      name: "tiny matmul 4x4",
      inputs: [u(4, 4), u(4, 4)],
      kiln: (a: Tensor, b: Tensor) => np.matmul(a, b),
      ...same("a @ b"),
    },
  ];
}

/** Every compared case, in print order. */
export function compareCases(): Case[] {
  return [
    ...binaryCases(),
    ...unaryCases(),
    ...reductionCases(),
    ...matmulCases(),
    ...structureCases(),
    ...latencyCases(),
  ];
}
