/**
 * The typed graph that staging produces (JAX's jaxpr): variables, constants, and equations
 * applying primitives. `linearize` stages tangent computations into one, `vjp` transposes it,
 * and the JIT compiles them. `evalGraph` replays a graph on the current trace, so a graph
 * composes with every transform.
 * @module
 */

import type { Aval, Primitive } from "./primitive.ts";
import type { Tensor } from "./tensor.ts";
import { bind } from "./trace.ts";

let nextVarId = 0;

/** A value produced inside a graph. */
export class Var {
  /** Unique id, used for printing. */
  readonly id: number = nextVarId++;
  constructor(readonly aval: Aval) {}
}

/** A value known when the graph was built (a tensor of the enclosing computation). */
export class Literal {
  constructor(readonly value: Tensor) {}
  /** Its abstract value. */
  get aval(): Aval {
    return this.value.aval;
  }
}

/** An equation's operand. */
export type Atom = Var | Literal;

/** One primitive application. */
export interface Eqn {
  prim: Primitive;
  inputs: Atom[];
  params: Record<string, unknown>;
  outputs: Var[];
}

const SHORT: Record<string, string> = {
  float16: "f16",
  bfloat16: "bf16",
  float32: "f32",
  float64: "f64",
  int32: "i32",
  uint32: "u32",
  bool: "bool",
};

/** `f32[2,3]` */
export function fmtAval(aval: Aval): string {
  return `${SHORT[aval.dtype]}[${aval.shape.join(",")}]`;
}

function fmtParam(v: unknown): string {
  if (typeof v === "function") return v.name || "fn";
  if (v instanceof Graph) return `{graph ${v.inputs.length}->${v.outputs.length}}`;
  if (Array.isArray(v) && v.some((x) => x instanceof Graph)) {
    return `[${v.map(fmtParam).join(", ")}]`;
  }
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A typed graph: inputs, equations in order, outputs. */
export class Graph {
  constructor(
    readonly inputs: Var[],
    readonly eqns: Eqn[],
    readonly outputs: Atom[],
  ) {}

  /** Readable listing, in the spirit of JAX's jaxpr printout. */
  toString(): string {
    const names = new Map<Var, string>();
    const literals = new Map<Tensor, string>();
    const name = (a: Atom): string => {
      if (a instanceof Literal) {
        if (a.value.size === 1 && a.value.isConcrete) return String(a.value.item());
        let n = literals.get(a.value);
        if (!n) literals.set(a.value, n = `c${literals.size}`);
        return n;
      }
      let n = names.get(a);
      if (!n) names.set(a, n = varName(names.size));
      return n;
    };
    const typed = (v: Var) => `${name(v)}:${fmtAval(v.aval)}`;
    const lines = this.eqns.map((e) => {
      const params = Object.entries(e.params)
        .map(([k, v]) => `${k}=${fmtParam(v)}`)
        .join(" ");
      const lhs = e.outputs.map(typed).join(" ");
      return `    ${lhs} = ${e.prim.name}${params ? `[${params}]` : ""} ${
        e.inputs.map(name).join(" ")
      }`;
    });
    const head = `{ lambda ${this.inputs.map(typed).join(" ")} .`;
    const consts = [...literals.entries()].map(([t, n]) => `${n}:${fmtAval(t.aval)}`);
    const constLine = consts.length ? `\n  consts ${consts.join(" ")}` : "";
    return `${head}${constLine}\n  let\n${lines.join("\n")}\n  in (${
      this.outputs.map(name).join(", ")
    }) }`;
  }

  /** Deno's console.log uses this. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

function varName(i: number): string {
  let s = "";
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26) - 1;
  } while (i >= 0);
  return s;
}

/** Replays `graph` on `args` through the current trace (so it composes with transforms). */
export function evalGraph(graph: Graph, args: Tensor[]): Tensor[] {
  if (args.length !== graph.inputs.length) {
    throw new RangeError(
      `evalGraph: the graph takes ${graph.inputs.length} inputs, got ${args.length}`,
    );
  }
  const env = new Map<Var, Tensor>();
  graph.inputs.forEach((v, i) => env.set(v, args[i]));
  const read = (a: Atom): Tensor => (a instanceof Literal ? a.value : env.get(a)!);
  for (const eqn of graph.eqns) {
    const outs = bind(eqn.prim, eqn.inputs.map(read), eqn.params);
    eqn.outputs.forEach((v, i) => env.set(v, outs[i]));
  }
  return graph.outputs.map(read);
}
