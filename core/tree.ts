/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors or numbers. Every
 * transform takes and returns pytrees; `null` and `undefined` are empty structure.
 * @module
 */

import { Tensor } from "./tensor.ts";

/** A leaf: a tensor or a JS number. */
export type Leaf = Tensor | number;

/** Describes a pytree's structure without its leaves. */
export type TreeDef =
  | { kind: "leaf" }
  | { kind: "none"; value: null | undefined }
  | { kind: "array"; children: TreeDef[] }
  | { kind: "object"; keys: string[]; children: TreeDef[] };

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Splits a pytree into its leaves (depth-first, object keys in insertion order) and structure. */
export function flatten(tree: unknown): [Leaf[], TreeDef] {
  const leaves: Leaf[] = [];
  const walk = (node: unknown, path: string): TreeDef => {
    if (node instanceof Tensor || typeof node === "number") {
      leaves.push(node);
      return { kind: "leaf" };
    }
    if (node === null || node === undefined) return { kind: "none", value: node };
    if (Array.isArray(node)) {
      return { kind: "array", children: node.map((c, i) => walk(c, `${path}[${i}]`)) };
    }
    if (isPlainObject(node)) {
      const keys = Object.keys(node);
      return { kind: "object", keys, children: keys.map((k) => walk(node[k], `${path}.${k}`)) };
    }
    throw new TypeError(
      `pytree: unsupported ${
        typeof node === "object" ? (node as object).constructor?.name : typeof node
      } at ${
        path || "the root"
      }; leaves must be tensors or numbers inside plain objects and arrays`,
    );
  };
  const def = walk(tree, "");
  return [leaves, def];
}

/** Rebuilds a pytree of structure `def` from `leaves`. */
export function unflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  let pos = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf":
        if (pos >= leaves.length) {
          throw new RangeError("tree.unflatten: too few leaves for the structure");
        }
        return leaves[pos++];
      case "none":
        return d.value;
      case "array":
        return d.children.map(build);
      case "object": {
        const out: Record<string, unknown> = {};
        d.keys.forEach((k, i) => (out[k] = build(d.children[i])));
        return out;
      }
    }
  };
  const result = build(def);
  if (pos !== leaves.length) {
    throw new RangeError(`tree.unflatten: ${leaves.length} leaves given, the structure has ${pos}`);
  }
  return result as T;
}

/** The leaves of a pytree. */
export function leaves(tree: unknown): Leaf[] {
  return flatten(tree)[0];
}

/** The structure of a pytree. */
export function structure(tree: unknown): TreeDef {
  return flatten(tree)[1];
}

/** Number of leaves of a structure. */
export function numLeaves(def: TreeDef): number {
  switch (def.kind) {
    case "leaf":
      return 1;
    case "none":
      return 0;
    default:
      return def.children.reduce((n, c) => n + numLeaves(c), 0);
  }
}

/** True when two structures are the same. */
export function treeDefEqual(a: TreeDef, b: TreeDef): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Formats a structure for error messages: `{w: *, b: *}`, `[*, *]`. */
export function fmtTreeDef(def: TreeDef): string {
  switch (def.kind) {
    case "leaf":
      return "*";
    case "none":
      return String(def.value);
    case "array":
      return `[${def.children.map(fmtTreeDef).join(", ")}]`;
    case "object":
      return `{${def.keys.map((k, i) => `${k}: ${fmtTreeDef(def.children[i])}`).join(", ")}}`;
  }
}

/**
 * Applies `fn` to corresponding leaves of one or more pytrees of the same structure
 * (`tree.map((p, g) => p.sub(g.mul(lr)), params, grads)`).
 */
export function map<T = unknown>(
  fn: (...leaves: Leaf[]) => unknown,
  tree: unknown,
  ...rest: unknown[]
): T {
  const [first, def] = flatten(tree);
  const others = rest.map((r, i) => {
    const [l, d] = flatten(r);
    if (!treeDefEqual(d, def)) {
      throw new RangeError(
        `tree.map: tree ${i + 1} has structure ${fmtTreeDef(d)}, expected ${fmtTreeDef(def)}`,
      );
    }
    return l;
  });
  return unflatten<T>(def, first.map((leaf, i) => fn(leaf, ...others.map((o) => o[i]))));
}
