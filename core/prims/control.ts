/**
 * Control flow as higher-order primitives (JAX's `cond`, `while`, `scan`): their parameters
 * carry graphs (plain {@link Graph} values a compiler can lower), and their rules transform
 * those graphs. Eagerly they run through `run`, a JS loop over `evalGraph`.
 *
 * Differentiation: with a concrete predicate or concrete scan operands (ordinary eager `jvp`
 * and `grad`), the JVP evaluates the chosen branch or every iteration inline, so the staged
 * tangent operations are the unrolled ones; otherwise (under vmap or a staging transform) it
 * binds a primal primitive and a tangent primitive over JVP graphs, which reverse mode
 * transposes (`cond`: a cond over transposed branches; `scan`: a reverse scan of the body's
 * transpose). A while loop, as in JAX, has no reverse mode.
 * @module
 */

import { isFloat } from "../dtype.ts";
import { evalGraph, Graph, Var } from "../graph.ts";
import { add, equal, greaterEqual, where } from "../numpy/elementwise.ts";
import { any } from "../numpy/reductions.ts";
import { reshape } from "../numpy/shape.ts";
import { type Aval, Primitive, UndefinedPrimal } from "../primitive.ts";
import { fmtShape } from "../shape.ts";
import { StagedTracer } from "../staging.ts";
import type { Tensor } from "../tensor.ts";
import { bind } from "../trace.ts";
import { matchBatch, moveAxis } from "../vmap.ts";
import {
  batchGraph,
  checkGraphInputs,
  fmtAvalShort,
  indexAxis0,
  instantiate,
  jvpInline,
  jvpTangentGraph,
  sameType,
  stackAxis0,
  stage,
  strong,
  transposeGraph,
  vjpOfGraph,
  zerosFor,
} from "./control_graphs.ts";

/** Parameters of {@link cond}: operands are `[index, ...args]`; each branch takes `args`. */
export interface CondParams {
  branches: Graph[];
}

/**
 * Parameters of {@link whileLoop}: operands are `[...condConsts, ...bodyConsts, ...carry]`;
 * `cond` takes `[...condConsts, ...carry]` to a bool scalar, `body` takes
 * `[...bodyConsts, ...carry]` to the next carry.
 */
export interface WhileParams {
  cond: Graph;
  body: Graph;
  condConsts: number;
  bodyConsts: number;
}

/**
 * Parameters of {@link scan}: operands are `[...consts, ...carry, ...xs]`; `body` takes
 * `[...consts, ...carry, ...x]` (x: a slice of each xs along axis 0) to
 * `[...carry, ...y]`; the outputs are the final carry and the ys stacked along axis 0.
 */
export interface ScanParams {
  body: Graph;
  numConsts: number;
  numCarry: number;
  length: number;
  reverse: boolean;
}

/**
 * Lets tests force the staged (non-unrolled) differentiation path on concrete values. When
 * true (the default), JVPs with a concrete predicate or concrete scan operands unroll.
 */
export const controlConfig: { unrollConcrete: boolean } = { unrollConcrete: true };

const isUndef = (x: Tensor | UndefinedPrimal): x is UndefinedPrimal => x instanceof UndefinedPrimal;

function clampIndex(i: number, n: number): number {
  return Math.min(Math.max(Math.trunc(i), 0), n - 1);
}

// Spreads tangents computed for the float outputs back over all outputs (null: integer).
function spreadFloat(avals: readonly Aval[], ts: readonly Tensor[]): (Tensor | null)[] {
  let k = 0;
  return avals.map((a) => (isFloat(a.dtype) ? ts[k++] : null));
}

// ---- cond ------------------------------------------------------------------------------

/** `cond(index, ...args)`: evaluates `branches[clamp(index)]` on args (JAX's lax.switch). */
export const cond: Primitive<CondParams> = new Primitive<CondParams>("cond", {
  abstractEval([index, ...args], { branches }) {
    if (index === undefined || index.shape.length !== 0 || index.dtype !== "int32") {
      throw new TypeError(
        `cond: the branch index must be an int32 scalar, got ${
          index ? fmtAvalShort(index) : "nothing"
        }`,
      );
    }
    if (branches.length === 0) throw new RangeError("cond: needs at least one branch");
    branches.forEach((g, k) => checkGraphInputs("cond", `branch ${k}`, g, args));
    const outs = branches[0].outputs.map((o) => o.aval);
    branches.forEach((g, k) => {
      if (
        g.outputs.length !== outs.length || g.outputs.some((o, j) => !sameType(o.aval, outs[j]))
      ) {
        throw new TypeError(
          `cond: branch ${k} returns (${g.outputs.map((o) => fmtAvalShort(o.aval))}), branch 0 (${
            outs.map(fmtAvalShort)
          })`,
        );
      }
    });
    return outs.map((a, j) => ({
      shape: a.shape,
      dtype: a.dtype,
      weak: branches.every((g) => g.outputs[j].aval.weak),
    }));
  },
  impl() {
    throw new Error("cond: runs through its run rule");
  },
  run([index, ...args], { branches }) {
    return evalGraph(branches[clampIndex(Number(index.item()), branches.length)], args);
  },
  jvpAcceptsZeros: true,
  jvp(primals, tangents, { branches }) {
    const [index, ...args] = primals;
    const targs = tangents.slice(1);
    if (index.isConcrete && controlConfig.unrollConcrete) {
      const g = branches[clampIndex(Number(index.item()), branches.length)];
      return jvpInline((xs) => evalGraph(g, xs), args, targs);
    }
    const primalsOut = bind(cond, primals, { branches });
    const has = targs.map((t) => t !== null);
    const tGraphs = branches.map((g) => jvpTangentGraph(g, has));
    const nonNull = targs.filter((t): t is Tensor => t !== null);
    const tOut = bind(cond, [index, ...args, ...nonNull], { branches: tGraphs });
    return [primalsOut, spreadFloat(primalsOut.map((p) => p.aval), tOut)];
  },
  transpose(cts, [index, ...args], { branches }) {
    if (isUndef(index)) throw new Error("cond: transpose: the branch index must be known");
    const linear = args.map(isUndef);
    if (!linear.some((l) => l)) return [null, ...args.map(() => null)];
    const res = args.filter((a): a is Tensor => !isUndef(a));
    const tGraphs = branches.map((g) => transposeGraph(g, linear));
    const out = bind(cond, [index, ...res, ...cts], { branches: tGraphs });
    let k = 0;
    return [null, ...linear.map((l) => (l ? out[k++] : null))];
  },
  batch([index, ...args], [indexDim, ...dims], { branches }, size) {
    const moved = args.map((x, i) => (dims[i] === null ? x : moveAxis(x, dims[i]!, 0)));
    const inDims = dims.map((d) => (d === null ? null : 0));
    const batched = branches.map((g) => batchGraph(g, inDims, size, true).graph);
    if (indexDim === null) {
      const outs = bind(cond, [index, ...moved], { branches: batched });
      return [outs, outs.map(() => 0)];
    }
    // a batched predicate: every branch on the whole batch, then select per example
    const idx = moveAxis(index, indexDim, 0);
    const all = batched.map((g) => evalGraph(g, moved));
    let result = all[0];
    for (let k = 1; k < all.length; k++) {
      // the index is clamped: the last branch also takes every index above it
      const hit = k === all.length - 1 ? greaterEqual(idx, k) : equal(idx, k);
      result = result.map((r, j) =>
        where(reshape(hit, [size, ...r.shape.slice(1).map(() => 1)]), all[k][j], r)
      );
    }
    return [result, result.map(() => 0)];
  },
});

// ---- while -----------------------------------------------------------------------------

function splitWhile<T>(xs: readonly T[], p: WhileParams): [T[], T[], T[]] {
  const a = p.condConsts, b = a + p.bodyConsts;
  return [xs.slice(0, a), xs.slice(a, b), xs.slice(b)];
}

/** `while(...condConsts, ...bodyConsts, ...carry)`: JAX's while_loop. */
export const whileLoop: Primitive<WhileParams> = new Primitive<WhileParams>("while", {
  abstractEval(inputs, p) {
    const [cc, bc, carry] = splitWhile(inputs, p);
    checkGraphInputs("while", "the cond graph", p.cond, [...cc, ...carry]);
    checkGraphInputs("while", "the body graph", p.body, [...bc, ...carry]);
    const pred = p.cond.outputs;
    if (pred.length !== 1 || pred[0].aval.dtype !== "bool" || pred[0].aval.shape.length !== 0) {
      throw new TypeError(
        `while: the cond graph must return one bool scalar, got (${
          pred.map((o) => fmtAvalShort(o.aval))
        })`,
      );
    }
    const outs = p.body.outputs;
    if (outs.length !== carry.length || outs.some((o, i) => !sameType(o.aval, carry[i]))) {
      throw new TypeError(
        `while: the body returns (${outs.map((o) => fmtAvalShort(o.aval))}), the carry is (${
          carry.map(fmtAvalShort)
        })`,
      );
    }
    return carry.map((a, i) => ({ ...a, weak: a.weak && outs[i].aval.weak }));
  },
  impl() {
    throw new Error("while: runs through its run rule");
  },
  run(args, p) {
    const [cc, bc, init] = splitWhile(args, p);
    let carry = init;
    while (evalGraph(p.cond, [...cc, ...carry])[0].item()) {
      carry = evalGraph(p.body, [...bc, ...carry]);
    }
    return carry;
  },
  jvpAcceptsZeros: true,
  // a while loop over (primal, tangent) carries; the predicate needs no tangents
  jvp(primals, tangents, p) {
    const [cc, bc, carry] = splitWhile(primals, p);
    const [, tbc, tcarry] = splitWhile(tangents, p);
    const carryAvals = carry.map((c) => c.aval);
    const floats = carryAvals.flatMap((a, i) => (isFloat(a.dtype) ? [i] : []));
    const hasBc = tbc.map((t) => t !== null);
    const tbcIn = tbc.filter((t): t is Tensor => t !== null);
    const tcarryIn = floats.map((i) => instantiate(tcarry[i], carry[i]));
    const nBc = bc.length, nT = tbcIn.length, nK = carry.length;
    const body = stage("jvp", [
      ...bc.map((x) => x.aval),
      ...tbcIn.map((t) => strong(t.aval)),
      ...carryAvals,
      ...tcarryIn.map((t) => t.aval),
    ], (ins) => {
      let k = nBc;
      const tb = hasBc.map((h) => (h ? ins[k++] : null));
      const cIns = ins.slice(nBc + nT, nBc + nT + nK);
      const tcIns = ins.slice(nBc + nT + nK);
      const tc: (Tensor | null)[] = carry.map(() => null);
      floats.forEach((i, j) => (tc[i] = tcIns[j]));
      const [po, to] = jvpInline(
        (xs) => evalGraph(p.body, xs),
        [...ins.slice(0, nBc), ...cIns],
        [...tb, ...tc],
      );
      return [...po, ...floats.map((i) => instantiate(to[i], po[i]))];
    }).graph;
    const condGraph = new Graph(
      [...p.cond.inputs, ...tcarryIn.map((t) => new Var(t.aval))],
      p.cond.eqns,
      p.cond.outputs,
    );
    const outs = bind(whileLoop, [...cc, ...bc, ...tbcIn, ...carry, ...tcarryIn], {
      cond: condGraph,
      body,
      condConsts: cc.length,
      bodyConsts: nBc + nT,
    });
    // under linearize the tangents are staged: compute the primal loop on its own, so that
    // its outputs are known and the staged loop is only needed for (unsupported) transposition
    const staged = tangents.some((t) => t instanceof StagedTracer);
    const primalsOut = staged ? bind(whileLoop, primals, p) : outs.slice(0, nK);
    return [primalsOut, spreadFloat(carryAvals, outs.slice(nK))];
  },
  transpose() {
    throw new Error(
      "lax.whileLoop: reverse-mode differentiation (grad, vjp) of a while loop is not " +
        "supported, as in JAX (its trip count is not known ahead of time); use lax.scan or " +
        "lax.forLoop with concrete bounds, or forward mode (jvp, jacfwd)",
    );
  },
  batch(args, dims, p, size) {
    const [ccDims, bcDims] = splitWhile(dims, p);
    const moved = args.map((x, i) => (dims[i] === null ? x : moveAxis(x, dims[i]!, 0)));
    const [cc, bc, carry0] = splitWhile(moved, p);
    // every carry becomes batched (examples may finish at different iterations)
    const carry = carry0.map((c, i) =>
      dims[p.condConsts + p.bodyConsts + i] === null ? matchBatch(c, null, 0, size) : c
    );
    const zeroOr = (d: number | null) => (d === null ? null : 0);
    const carryDims = carry.map(() => 0);
    const condB = batchGraph(p.cond, [...ccDims.map(zeroOr), ...carryDims], size, false);
    const bodyB = batchGraph(p.body, [...bcDims.map(zeroOr), ...carryDims], size, true);
    if (condB.outDims[0] === null) {
      const outs = bind(whileLoop, [...cc, ...bc, ...carry], {
        ...p,
        cond: condB.graph,
        body: bodyB.graph,
      });
      return [outs, outs.map(() => 0)];
    }
    // a batched predicate: run while any example runs; finished examples keep their carry
    const nCC = cc.length, nBC = bc.length;
    const ccAvals = cc.map((x) => x.aval), carryAvals = carry.map((x) => x.aval);
    const anyCond = stage("vmap", [...ccAvals, ...carryAvals], (ins) => {
      return [any(evalGraph(condB.graph, ins)[0])];
    }).graph;
    const selBody = stage("vmap", [...ccAvals, ...bc.map((x) => x.aval), ...carryAvals], (ins) => {
      const c = ins.slice(0, nCC), b = ins.slice(nCC, nCC + nBC), k = ins.slice(nCC + nBC);
      const pred = evalGraph(condB.graph, [...c, ...k])[0];
      const next = evalGraph(bodyB.graph, [...b, ...k]);
      return next.map((n, i) =>
        where(reshape(pred, [size, ...n.shape.slice(1).map(() => 1)]), n, k[i])
      );
    }).graph;
    const outs = bind(whileLoop, [...cc, ...cc, ...bc, ...carry], {
      cond: anyCond,
      body: selBody,
      condConsts: nCC,
      bodyConsts: nCC + nBC,
    });
    return [outs, outs.map(() => 0)];
  },
});

// ---- scan ------------------------------------------------------------------------------

function splitScan<T>(xs: readonly T[], p: ScanParams): [T[], T[], T[]] {
  const a = p.numConsts, b = a + p.numCarry;
  return [xs.slice(0, a), xs.slice(a, b), xs.slice(b)];
}

// The scan as a JS loop on the current trace (eager `run`, and unrolled JVPs).
function scanLoop(args: Tensor[], p: ScanParams): Tensor[] {
  const [consts, init, xs] = splitScan(args, p);
  const yAvals = p.body.outputs.slice(p.numCarry).map((o) => o.aval);
  const ys: Tensor[][] = yAvals.map(() => new Array<Tensor>(p.length));
  let carry = init;
  for (let step = 0; step < p.length; step++) {
    const i = p.reverse ? p.length - 1 - step : step;
    const out = evalGraph(p.body, [...consts, ...carry, ...xs.map((x) => indexAxis0(x, i))]);
    carry = out.slice(0, p.numCarry);
    out.slice(p.numCarry).forEach((y, j) => (ys[j][i] = y));
  }
  return [...carry, ...ys.map((list, j) => stackAxis0(list, yAvals[j]))];
}

/** `scan(...consts, ...carry, ...xs)`: JAX's scan (a loop carrying state, stacking ys). */
export const scan: Primitive<ScanParams> = new Primitive<ScanParams>("scan", {
  abstractEval(inputs, p) {
    const [consts, carry, xs] = splitScan(inputs, p);
    xs.forEach((x, i) => {
      if (x.shape.length === 0 || x.shape[0] !== p.length) {
        throw new RangeError(
          `scan: xs ${i} has shape ${
            fmtShape(x.shape)
          }, expected a leading axis of length ${p.length}`,
        );
      }
    });
    const slices = xs.map((x) => ({ ...x, shape: x.shape.slice(1) }));
    checkGraphInputs("scan", "the body", p.body, [...consts, ...carry, ...slices]);
    const outs = p.body.outputs.map((o) => o.aval);
    if (outs.length < carry.length || carry.some((c, i) => !sameType(c, outs[i]))) {
      throw new TypeError(
        `scan: the body returns (${outs.map(fmtAvalShort)}), the carry is (${
          carry.map(fmtAvalShort)
        })`,
      );
    }
    return [
      ...carry.map((a, i) => ({ ...a, weak: a.weak && outs[i].weak })),
      ...outs.slice(carry.length).map((a) => ({ ...a, shape: [p.length, ...a.shape] })),
    ];
  },
  impl() {
    throw new Error("scan: runs through its run rule");
  },
  run: scanLoop,
  jvpAcceptsZeros: true,
  jvp(primals, tangents, p) {
    if (controlConfig.unrollConcrete && primals.every((x) => x.isConcrete)) {
      return jvpInline((xs) => scanLoop(xs, p), primals, tangents);
    }
    const [consts, carry, xs] = splitScan(primals, p);
    const [tc, tk, tx] = splitScan(tangents, p);
    const nC = consts.length, nK = carry.length, nX = xs.length;
    const body = p.body;
    // 1. the primal scan, also stacking each iteration's input carry (the residuals)
    const resBody = new Graph(body.inputs, body.eqns, [
      ...body.outputs,
      ...body.inputs.slice(nC, nC + nK),
    ]);
    const outs = bind(scan, primals, { ...p, body: resBody });
    const primalsOut = outs.slice(0, outs.length - nK);
    const carryRes = outs.slice(outs.length - nK);
    // 2. the tangent scan: linear in the tangents, the primals read as residuals
    const floatK = carry.flatMap((c, i) => (isFloat(c.dtype) ? [i] : []));
    const outAvals = body.outputs.map((o) => o.aval);
    const floatY = outAvals.slice(nK).flatMap((a, j) => (isFloat(a.dtype) ? [nK + j] : []));
    const tcIn = tc.filter((t): t is Tensor => t !== null);
    const tkIn = floatK.map((i) => instantiate(tk[i], carry[i]));
    const txIn = tx.filter((t): t is Tensor => t !== null);
    const slice = (x: Tensor) => ({ ...x.aval, shape: x.shape.slice(1) });
    const nTC = tcIn.length, nTK = tkIn.length;
    const tBody = stage("jvp", [
      ...consts.map((x) => x.aval),
      ...tcIn.map((t) => strong(t.aval)),
      ...tkIn.map((t) => t.aval),
      ...xs.map(slice),
      ...carryRes.map(slice),
      ...txIn.map((t) => strong(slice(t))),
    ], (ins) => {
      let k = 0;
      const take = (n: number) => ins.slice(k, k += n);
      const [c, tcs, tks, x, kr, txs] = [nC, nTC, nTK, nX, nK, txIn.length].map(take);
      const spread = (ts: (Tensor | null)[], vals: Tensor[]) => {
        let j = 0;
        return ts.map((t) => (t === null ? null : vals[j++]));
      };
      const tkFull: (Tensor | null)[] = carry.map(() => null);
      floatK.forEach((i, j) => (tkFull[i] = tks[j]));
      const [po, to] = jvpInline(
        (vals) => evalGraph(body, vals),
        [...c, ...kr, ...x],
        [...spread(tc, tcs), ...tkFull, ...spread(tx, txs)],
      );
      return [...floatK, ...floatY].map((i) => instantiate(to[i], po[i]));
    }).graph;
    const tOuts = bind(scan, [...consts, ...tcIn, ...tkIn, ...xs, ...carryRes, ...txIn], {
      body: tBody,
      numConsts: nC + nTC,
      numCarry: nTK,
      length: p.length,
      reverse: p.reverse,
    });
    return [primalsOut, spreadFloat(primalsOut.map((o) => o.aval), tOuts)];
  },
  // a reverse scan of the body's transpose; the carry is linear, cotangents of linear
  // consts accumulate in extra carries
  transpose(cts, inputs, p) {
    const [consts, carry, xs] = splitScan(inputs, p);
    const linC = consts.map(isUndef), linX = xs.map(isUndef);
    const resC = consts.filter((x): x is Tensor => !isUndef(x));
    const resX = xs.filter((x): x is Tensor => !isUndef(x));
    const linCAvals = consts.filter(isUndef).map((u) => strong(u.aval));
    const nK = carry.length, nLC = linCAvals.length, nRC = resC.length, nRX = resX.length;
    const linear = [...linC, ...carry.map(() => true), ...linX];
    const ctAvals = p.body.outputs.map((o) => strong(o.aval));
    const slice = (x: Tensor) => ({ ...x.aval, shape: x.shape.slice(1) });
    const tBody = stage("transpose", [
      ...resC.map((x) => x.aval),
      ...linCAvals,
      ...ctAvals.slice(0, nK),
      ...resX.map(slice),
      ...ctAvals.slice(nK),
    ], (ins) => {
      const rc = ins.slice(0, nRC), acc = ins.slice(nRC, nRC + nLC);
      const ctK = ins.slice(nRC + nLC, nRC + nLC + nK);
      const rx = ins.slice(nRC + nLC + nK, nRC + nLC + nK + nRX);
      const ctY = ins.slice(nRC + nLC + nK + nRX);
      const g = vjpOfGraph(p.body, linear, [...rc, ...rx], [...ctK, ...ctY]);
      return [...acc.map((a, i) => add(a, g[i])), ...g.slice(nLC)];
    }).graph;
    const outs = bind(scan, [
      ...resC,
      ...linCAvals.map(zerosFor),
      ...cts.slice(0, nK),
      ...resX,
      ...cts.slice(nK),
    ], { body: tBody, numConsts: nRC, numCarry: nLC + nK, length: p.length, reverse: !p.reverse });
    let kc = 0, kx = nLC + nK;
    return [
      ...linC.map((l) => (l ? outs[kc++] : null)),
      ...carry.map((c, i) => (isUndef(c) ? outs[nLC + i] : null)),
      ...linX.map((l) => (l ? outs[kx++] : null)),
    ];
  },
  batch(args, dims, p, size) {
    const [cDims, kDims, xDims] = splitScan(dims, p);
    const [consts, carry, xs] = splitScan(args, p);
    const c = consts.map((x, i) => (cDims[i] === null ? x : moveAxis(x, cDims[i]!, 0)));
    const k = carry.map((x, i) => matchBatch(x, kDims[i], 0, size));
    const x = xs.map((v, i) => (xDims[i] === null ? v : moveAxis(v, xDims[i]!, 1)));
    const zeroOr = (d: number | null) => (d === null ? null : 0);
    const body = batchGraph(
      p.body,
      [...cDims.map(zeroOr), ...k.map(() => 0), ...xDims.map(zeroOr)],
      size,
      true,
    ).graph;
    const outs = bind(scan, [...c, ...k, ...x], { ...p, body });
    return [outs, outs.map((_, i) => (i < p.numCarry ? 0 : 1))];
  },
});
