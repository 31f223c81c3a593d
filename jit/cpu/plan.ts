/**
 * Fusion planning for the CPU back end: classifies equations (fusible loop ops, library
 * calls, eager steps), decides which values are materialized in buffers, and orders the
 * steps. Everything not materialized is recomputed inline inside the loop kernel of the
 * materialized value that consumes it.
 * @module
 */

import { type DType, ITEMSIZE } from "../../core/dtype.ts";
import { type Atom, type Eqn, type Graph, Literal, Var } from "../../core/graph.ts";
import type { CondParams, ScanParams, WhileParams } from "../../core/prims/control.ts";
import { normalizeHalfFloats } from "../float_normalize.ts";
import { optimize } from "../passes.ts";
import { transpose as transposePrim } from "../../core/prims/structure.ts";
import { binaryDefs, unaryDefs } from "../../core/prims/elementwise.ts";
import { sizeOf } from "../../core/shape.ts";
import { canCall, type DotLayout, dotLayout } from "./library.ts";
import type { DotGeneralParams } from "../../core/prims/dot.ts";
import { EXPENSIVE } from "./scalar_ops.ts";

/** A buffer the compiled code reads or writes. */
export interface Buf {
  /** Its C pointer name inside a kernel. */
  name: string;
  dtype: DType;
  size: number;
  kind: "in" | "out" | "const" | "arena";
  /** Input or output position (in/out). */
  index: number;
  /** Byte offset inside the const blob or the arena. */
  offset: number;
  /** A donated input this output is written into. */
  alias?: Buf;
}

/** What loop code generation asks the planner. */
export interface PlanContext {
  bufOf(v: Var): Buf | undefined;
  constBuf(l: Literal): Buf;
  producer(v: Var): Eqn | undefined;
  isExpensive(a: Atom): boolean;
  /** How deeply reductions nest in a fused value (deeper ones are generated first). */
  reduceDepth(a: Atom): number;
  /** The value of a literal whose elements are all equal (inlined as a C constant). */
  uniformValue(l: Literal): number | undefined;
}

/** One step of the plan. */
export type Step =
  | { kind: "loop"; roots: Var[] }
  | { kind: "call"; eqn: Eqn; layout?: DotLayout }
  | { kind: "control"; eqn: Eqn }
  | { kind: "eager"; eqn: Eqn };

/** How an equation runs: fused into a loop kernel, a library call, native control flow, eager. */
export type Kind = "loop" | "call" | "control" | "eager";

const VIEWS = new Set(["broadcast_in_dim", "transpose", "slice", "rev", "reshape"]);
const REDUCTIONS = new Set(["reduce_sum", "reduce_prod", "reduce_max", "reduce_min"]);
const ELEMENTWISE = new Set([
  ...Object.keys(unaryDefs),
  ...Object.keys(binaryDefs),
  "select",
  "convert_element_type",
  "stop_gradient",
]);

const CONTROL = new Set(["cond", "while", "scan"]);
const optimizedGraphs = new WeakMap<Graph, Graph>();
const nativeGraphs = new WeakMap<Graph, boolean>();

/** A control-flow body graph after the JIT's graph passes (memoized). */
export function optimizedGraph(graph: Graph): Graph {
  let g = optimizedGraphs.get(graph);
  if (!g) optimizedGraphs.set(graph, g = optimize(normalizeHalfFloats(graph)));
  return g;
}

/** The graphs a control-flow equation carries (optimized): cond branches, while cond+body, scan body. */
export function controlGraphs(eqn: Eqn): Graph[] {
  const p = eqn.params as unknown;
  const graphs = eqn.prim.name === "cond"
    ? (p as CondParams).branches
    : eqn.prim.name === "while"
    ? [(p as WhileParams).cond, (p as WhileParams).body]
    : [(p as ScanParams).body];
  return graphs.map(optimizedGraph);
}

/** Whether every equation of `graph` (recursively) compiles natively: no eager step. */
function isNative(graph: Graph): boolean {
  let ok = nativeGraphs.get(graph);
  if (ok === undefined) {
    ok = graph.eqns.every((e) => classify(e) !== "eager");
    nativeGraphs.set(graph, ok);
  }
  return ok;
}

/** How an equation runs. */
export function classify(eqn: Eqn): Kind {
  const name = eqn.prim.name;
  if (CONTROL.has(name)) return controlGraphs(eqn).every(isNative) ? "control" : "eager";
  if (eqn.prim.rules.run !== undefined || eqn.outputs.length !== 1) return "eager";
  if (ELEMENTWISE.has(name) || VIEWS.has(name) || REDUCTIONS.has(name) || name === "iota") {
    return "loop";
  }
  return canCall(eqn) ? "call" : "eager";
}

/** The planner's state for one graph. */
export class Planner implements PlanContext {
  readonly eqns: Eqn[];
  readonly kinds = new Map<Eqn, Kind>();
  readonly producers = new Map<Var, Eqn>();
  readonly consumers = new Map<Var, Eqn[]>();
  readonly layouts = new Map<Eqn, DotLayout>();
  /** Values forced into buffers by code generation (Refuse). */
  readonly forced = new Set<Var>();
  materialized = new Set<Var>();
  readonly bufs = new Map<Var, Buf>();
  readonly consts = new Map<unknown, Buf>();
  private nextBuf = 0;
  private expensiveMemo = new Map<Var, boolean>();
  private reduceMemo = new Map<Var, number>();
  private uniform = new Map<unknown, number | undefined>();

  /**
   * `pool` allocates constant bytes; planners of control-flow bodies share their parent's,
   * so that every constant of a translation unit lives in one blob.
   */
  constructor(readonly graph: Graph, readonly pool: { bytes: number } = { bytes: 0 }) {
    this.eqns = [];
    const swapped = swappableDots(graph);
    for (const eqn of graph.eqns) {
      if (swapped.dropped.has(eqn)) continue;
      if (eqn.prim.name === "dot_general" && classify(eqn) === "call") {
        // operands whose layout the matmul flags cannot express get a transposed copy
        const layout = dotLayout(eqn);
        const inputs = eqn.inputs.map((a, i) => {
          const perm = layout.operands[i].perm;
          if (perm === null) return a;
          const shape = perm.map((p) => a.aval.shape[p]);
          const t = new Var({ shape, dtype: a.aval.dtype, weak: a.aval.weak });
          this.eqns.push({
            prim: transposePrim as never,
            inputs: [a],
            params: { perm },
            outputs: [t],
          });
          layout.operands[i] = { trans: 0, perm: null };
          return t;
        });
        const transposed = swapped.outputs.get(eqn);
        const rewritten = transposed
          ? { ...eqn, inputs: [inputs[1], inputs[0]], outputs: [transposed] }
          : { ...eqn, inputs };
        if (transposed) {
          // only read back as its transpose: compute that directly, (A B)^T = B^T A^T
          const [a, b] = layout.operands;
          layout.operands = [{ trans: 1 - b.trans, perm: null }, {
            trans: 1 - a.trans,
            perm: null,
          }];
          [layout.m, layout.n] = [layout.n, layout.m];
        }
        this.layouts.set(rewritten, layout);
        this.eqns.push(rewritten);
      } else this.eqns.push(eqn);
    }
    for (const eqn of this.eqns) {
      this.kinds.set(eqn, classify(eqn));
      for (const o of eqn.outputs) this.producers.set(o, eqn);
      for (const a of eqn.inputs) {
        if (a instanceof Var) {
          const list = this.consumers.get(a) ?? [];
          if (!list.includes(eqn)) list.push(eqn);
          this.consumers.set(a, list);
        }
      }
    }
    graph.inputs.forEach((v, i) =>
      this.bufs.set(v, this.newBuf(v.aval.dtype, sizeOf(v.aval.shape), "in", i))
    );
  }

  newBuf(dtype: DType, size: number, kind: Buf["kind"], index = -1): Buf {
    return { name: `b${this.nextBuf++}`, dtype, size, kind, index, offset: 0 };
  }

  /** Bytes of constants allocated so far (in the shared pool). */
  get constBytes(): number {
    return this.pool.bytes;
  }

  bufOf(v: Var): Buf | undefined {
    return this.bufs.get(v);
  }

  producer(v: Var): Eqn | undefined {
    return this.producers.get(v);
  }

  constBuf(l: Literal): Buf {
    let buf = this.consts.get(l.value);
    if (!buf) {
      const size = l.value.size;
      buf = this.newBuf(l.aval.dtype, size, "const");
      buf.offset = this.pool.bytes;
      this.pool.bytes += align(size * bytesOf(l.aval.dtype));
      this.consts.set(l.value, buf);
    }
    return buf;
  }

  uniformValue(l: Literal): number | undefined {
    if (this.uniform.has(l.value)) return this.uniform.get(l.value);
    const data = l.value.dataSync();
    let result: number | undefined = data.length > 0 ? Number(data[0]) : undefined;
    for (let i = 1; i < data.length && result !== undefined; i++) {
      if (!Object.is(data[i], data[0])) result = undefined;
    }
    this.uniform.set(l.value, result);
    return result;
  }

  reduceDepth(a: Atom): number {
    if (a instanceof Literal || this.bufs.has(a)) return 0;
    const memo = this.reduceMemo.get(a);
    if (memo !== undefined) return memo;
    const eqn = this.producers.get(a)!;
    const result = Number(REDUCTIONS.has(eqn.prim.name)) +
      Math.max(0, ...eqn.inputs.map((x) => this.reduceDepth(x)));
    this.reduceMemo.set(a, result);
    return result;
  }

  isExpensive(a: Atom): boolean {
    if (a instanceof Literal || this.bufs.has(a)) return false;
    const memo = this.expensiveMemo.get(a);
    if (memo !== undefined) return memo;
    const eqn = this.producers.get(a)!;
    const result = EXPENSIVE.has(eqn.prim.name) || REDUCTIONS.has(eqn.prim.name) ||
      eqn.inputs.some((x) => this.isExpensive(x));
    this.expensiveMemo.set(a, result);
    return result;
  }

  /** Decides the materialized values and returns the steps in order. */
  plan(): Step[] {
    const isInput = (a: Atom) => a instanceof Var && this.graph.inputs.includes(a);
    const m = new Set<Var>(this.forced);
    for (const o of this.graph.outputs) if (o instanceof Var && !isInput(o)) m.add(o);
    for (const eqn of this.eqns) {
      const kind = this.kinds.get(eqn)!;
      if (kind !== "loop") {
        for (const o of eqn.outputs) m.add(o);
        for (const a of eqn.inputs) if (a instanceof Var && !isInput(a)) m.add(a);
      } else if (eqn.prim.name === "reshape" && !isUnitReshape(eqn)) {
        const x = eqn.inputs[0];
        if (x instanceof Var && !isInput(x)) m.add(x);
      }
    }
    // a value consumed by more than one materialized root is materialized too, unless it is
    // a free view of a buffer
    const rootsOf = new Map<Var, Set<Var>>();
    for (let i = this.eqns.length - 1; i >= 0; i--) {
      const eqn = this.eqns[i];
      if (this.kinds.get(eqn) !== "loop") continue;
      const v = eqn.outputs[0];
      if (m.has(v)) {
        rootsOf.set(v, new Set([v]));
        continue;
      }
      const roots = new Set<Var>();
      for (const c of this.consumers.get(v) ?? []) {
        for (const r of rootsOf.get(c.outputs[0]) ?? []) roots.add(r);
      }
      if (roots.size > 1 && !this.isFree(v)) {
        m.add(v);
        rootsOf.set(v, new Set([v]));
      } else rootsOf.set(v, roots);
    }
    const siblings = this.mergeSiblings(m, isInput);
    this.materialized = m;
    this.reduceMemo.clear();
    this.expensiveMemo.clear();
    // buffers: outputs first (first occurrence), then arena
    for (const [v, b] of [...this.bufs]) if (b.kind !== "in") this.bufs.delete(v);
    this.graph.outputs.forEach((o, j) => {
      if (o instanceof Var && m.has(o) && !this.bufs.has(o)) {
        this.bufs.set(o, this.newBuf(o.aval.dtype, sizeOf(o.aval.shape), "out", j));
      }
    });
    for (const v of m) {
      if (!this.bufs.has(v)) {
        this.bufs.set(v, this.newBuf(v.aval.dtype, sizeOf(v.aval.shape), "arena"));
      }
    }
    const steps: Step[] = [];
    for (const eqn of this.eqns) {
      const kind = this.kinds.get(eqn)!;
      if (kind === "loop") {
        const v = eqn.outputs[0];
        const group = siblings.get(v);
        if (group !== undefined) {
          // a sibling group runs as one loop at its last member's place
          if (group[group.length - 1] === v) steps.push({ kind: "loop", roots: group });
        } else if (m.has(v)) steps.push({ kind: "loop", roots: [v] });
      } else if (kind === "call") steps.push({ kind: "call", eqn, layout: this.layouts.get(eqn) });
      else if (kind === "control") steps.push({ kind: "control", eqn });
      else steps.push({ kind: "eager", eqn });
    }
    return steps;
  }

  /**
   * Sibling fusion. A reduction-free value read by several loop roots of its own shape is
   * materialized only because each root's loop would recompute it (`h = x + b`, then both the
   * relu mask `h > 0` and `select(mask, h, 0)` are kept for the backward pass). Running those
   * roots as one loop with several stores computes the value once per element and never writes
   * it. Unmaterializes such values in `m` and returns each grouped root's group (in graph order);
   * a group is only formed when no other step between its first and last member reads a
   * member, since the group runs at its last member's place.
   */
  private mergeSiblings(m: Set<Var>, isInput: (a: Atom) => boolean): Map<Var, Var[]> {
    const position = new Map<Var, number>();
    this.eqns.forEach((e, i) => e.outputs.forEach((o) => position.set(o, i)));
    const isLoop = (v: Var) => this.kinds.get(this.producers.get(v)!) === "loop";
    // per loop root: the materialized values its fused expression reads, and whether it reduces
    const reads = new Map<Var, { vars: Set<Var>; reduces: boolean }>();
    const inlineReads = (root: Var) => {
      const vars = new Set<Var>();
      let reduces = false;
      const seen = new Set<Var>();
      const visit = (v: Var) => {
        if (seen.has(v)) return;
        seen.add(v);
        const eqn = this.producers.get(v)!;
        if (REDUCTIONS.has(eqn.prim.name)) reduces = true;
        for (const a of eqn.inputs) {
          if (!(a instanceof Var) || isInput(a)) continue;
          if (m.has(a)) vars.add(a);
          else visit(a);
        }
      };
      visit(root);
      return { vars, reduces };
    };
    for (const v of m) if (!isInput(v) && isLoop(v)) reads.set(v, inlineReads(v));
    const blocked = (group: Var[]) => {
      const first = position.get(group[0])!, last = position.get(group[group.length - 1])!;
      const members = new Set(group);
      return this.eqns.slice(first + 1, last).some((e) => {
        const out = e.outputs[0];
        if (members.has(out)) return false;
        if (this.kinds.get(e) !== "loop") {
          return e.inputs.some((a) => a instanceof Var && members.has(a));
        }
        return [...(reads.get(out)?.vars ?? [])].some((v) => members.has(v));
      });
    };
    const result = new Map<Var, Var[]>();
    const candidates = [...reads.keys()].sort((a, b) => position.get(a)! - position.get(b)!);
    for (const h of candidates) {
      const info = reads.get(h)!;
      if (result.has(h) || info.reduces || this.forced.has(h)) continue;
      if (this.graph.outputs.includes(h)) continue;
      const users = this.consumers.get(h) ?? [];
      if (!users.every((e) => this.kinds.get(e) === "loop")) continue;
      const roots = [...reads].filter(([r, ri]) => r !== h && ri.vars.has(h)).map(([r]) => r);
      const sameShape = roots.every((r) =>
        !reads.get(r)!.reduces && r.aval.shape.length === h.aval.shape.length &&
        r.aval.shape.every((d, i) => d === h.aval.shape[i])
      );
      if (roots.length < 2 || !sameShape || roots.some((r) => !m.has(r))) continue;
      // join the groups its readers already belong to
      const group = [...new Set(roots.flatMap((r) => result.get(r) ?? [r]))];
      group.sort((a, b) => position.get(a)! - position.get(b)!);
      if (blocked(group)) continue;
      m.delete(h);
      for (const r of group) {
        result.set(r, group);
        const ri = reads.get(r)!;
        if (ri.vars.delete(h)) { for (const v of info.vars) ri.vars.add(v); }
      }
    }
    this.fuseConsumers(candidates.filter((v) => m.has(v)), reads, result, blocked);
    return result;
  }

  /**
   * Producer-consumer fusion (XLA's multi-output fusion). An elementwise value `h` that stays
   * materialized for a later reader (`h = x·W + b`, kept for the relu's backward pass) and an
   * elementwise root of its shape applied to it directly (`relu(h)`, materialized for the next
   * matmul) run as one loop storing both at the consumer's place: `h` is computed once and
   * never read back. Skipped when a step between the two reads `h`, or either is in a group.
   * `candidates`: the materialized loop roots, in graph order.
   */
  private fuseConsumers(
    candidates: Var[],
    reads: Map<Var, { vars: Set<Var>; reduces: boolean }>,
    result: Map<Var, Var[]>,
    blocked: (group: Var[]) => boolean,
  ): void {
    const sameShape = (a: Var, b: Var) =>
      a.aval.shape.length === b.aval.shape.length &&
      a.aval.shape.every((d, i) => d === b.aval.shape[i]);
    for (const h of candidates) {
      if (result.has(h) || reads.get(h)!.reduces || this.forced.has(h)) continue;
      for (const c of this.consumers.get(h) ?? []) {
        const r = c.outputs[0];
        const direct = ELEMENTWISE.has(c.prim.name) && candidates.includes(r) &&
          !reads.get(r)!.reduces;
        if (!direct || result.has(r) || this.forced.has(r) || !sameShape(h, r)) continue;
        const group = [h, r];
        if (blocked(group)) continue;
        result.set(h, group);
        result.set(r, group);
        break;
      }
    }
  }

  /** A chain of views ending in a graph input, a literal or iota: free to recompute. */
  private isFree(v: Var): boolean {
    let a: Atom = v;
    for (;;) {
      if (a instanceof Literal || this.graph.inputs.includes(a)) return true;
      const eqn: Eqn = this.producers.get(a)!;
      if (eqn.prim.name === "iota") return true;
      if (!VIEWS.has(eqn.prim.name)) return false;
      a = eqn.inputs[0];
    }
  }
}

/**
 * Matmuls whose result is only read through a transpose of its last two axes (weight
 * gradients in backward passes: `dot(x^T, g)` then transposed back). Each maps to the
 * transpose's output, which the matmul then writes directly with its operands swapped; the
 * transposes are dropped.
 */
function swappableDots(graph: Graph): { outputs: Map<Eqn, Var>; dropped: Set<Eqn> } {
  const outputs = new Map<Eqn, Var>();
  const dropped = new Set<Eqn>();
  const consumers = new Map<Var, Eqn[]>();
  for (const eqn of graph.eqns) {
    for (const a of eqn.inputs) {
      if (a instanceof Var) consumers.set(a, [...(consumers.get(a) ?? []), eqn]);
    }
  }
  for (const eqn of graph.eqns) {
    if (eqn.prim.name !== "dot_general" || classify(eqn) !== "call") continue;
    const v = eqn.outputs[0];
    const p = eqn.params as unknown as DotGeneralParams;
    const nb = p.lhsBatch.length, nc = p.lhsContracting.length;
    const [la, ra] = eqn.inputs.map((a) => a.aval.shape.length);
    if (la - nb - nc !== 1 || ra - nb - nc !== 1 || graph.outputs.includes(v)) continue;
    const users = consumers.get(v) ?? [];
    if (users.length !== 1 || users[0].prim.name !== "transpose") continue;
    const perm = (users[0].params as { perm: number[] }).perm;
    const swap = [...Array(nb).keys(), nb + 1, nb];
    if (perm.length !== swap.length || perm.some((x, i) => x !== swap[i])) continue;
    outputs.set(eqn, users[0].outputs[0]);
    dropped.add(users[0]);
  }
  return { outputs, dropped };
}

/** A reshape that only inserts or removes size-1 axes (fusible as an index map). */
export function isUnitReshape(eqn: Eqn): boolean {
  const a = eqn.inputs[0].aval.shape.filter((d) => d !== 1);
  const b = eqn.outputs[0].aval.shape.filter((d) => d !== 1);
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Bytes per element. */
export function bytesOf(dtype: DType): number {
  return ITEMSIZE[dtype];
}

/** Rounds a byte count up to 64. */
export function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}
