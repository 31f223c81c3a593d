/**
 * `io` safetensors: round-trips for every dtype and nested pytrees, files from other tools
 * (hand-built bytes), and clear errors for malformed files.
 */

import { np, type Tensor } from "../mod.ts";
import * as io from "../io/index.ts";
import { assert, fc } from "./helpers.ts";
import {
  assertSameTree,
  DTYPES,
  f32Bytes,
  rawSafetensors,
  sample,
  throwsNaming,
} from "./io_helpers.ts";

Deno.test("safetensors round-trips", async (t) => {
  await t.step("every dtype and nested pytrees", () => {
    const params = {
      layers: [
        { w: sample("float32", [2, 3]), b: sample("float64", [3], 2) },
        { w: sample("int32", [4], 3), b: sample("uint32", [1, 2], 4), m: sample("bool", [5], 5) },
      ],
      step: 12,
      lr: 0.5,
      empty: sample("float32", [0, 3]),
      scalar: sample("float64", [], 6),
      nothing: null,
      missing: undefined,
      zlast: [[], {}, [sample("int32", [2, 2], 7)]],
    };
    const back = io.decodeSafetensors(io.encodeSafetensors(params));
    assertSameTree(back, params);
  });
  await t.step("root leaf, empty tree, arrays at the root, integer-like keys", () => {
    const x = sample("float32", [3], 8);
    assertSameTree(io.decodeSafetensors(io.encodeSafetensors(x)), x);
    assertSameTree(io.decodeSafetensors(io.encodeSafetensors({})), {});
    assertSameTree(io.decodeSafetensors(io.encodeSafetensors([])), []);
    const tr = [x, { "10": x, "2": 3, b: [x] }];
    assertSameTree(io.decodeSafetensors(io.encodeSafetensors(tr)), tr);
    assertSameTree(io.decodeSafetensors(io.encodeSafetensors(7)), 7);
  });
  await t.step("random trees (fast-check)", () => {
    const leaf = fc.tuple(
      fc.constantFrom(...DTYPES),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
      fc.integer(),
    ).map(([d, s, seed]) => sample(d, s, seed));
    const { node } = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.double({ noNaN: false }),
        fc.constantFrom(null, undefined),
        fc.array(tie("node"), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 3 }).filter((k) => !k.includes(".")), tie("node"), {
          maxKeys: 3,
        }),
      ),
    }));
    fc.assert(
      fc.property(node, (tr) => {
        let bytes: Uint8Array;
        try {
          bytes = io.encodeSafetensors(tr);
        } catch (e) {
          // the one legitimate refusal: two leaves with the same key path ("" keys collide)
          assert.match((e as Error).message, /both have the key path|__metadata__/);
          return;
        }
        assertSameTree(io.decodeSafetensors(bytes), tr);
      }),
      { numRuns: 150, seed: 42 },
    );
  });
  await t.step("files: save/load, saveSync/loadSync, metadata, inspect", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const params = { w: sample("float32", [2, 2]), b: [sample("bool", [3])], n: 1 };
      const path = `${dir}/model.safetensors`;
      await io.save(path, params, { metadata: { format: "kiln", epoch: "3" } });
      assertSameTree(await io.load(path), params);
      io.saveSync(`${dir}/b.safetensors`, params);
      assertSameTree(io.loadSync(`${dir}/b.safetensors`), params);
      const info = io.inspectSafetensors(await Deno.readFile(path));
      assert.equal(info.metadata.epoch, "3");
      assert.deepEqual(info.tensors["w"], { dtype: "F32", shape: [2, 2], dataOffsets: [0, 16] });
      assert.deepEqual(info.tensors["b.0"].shape, [3]);
      const bytes = await Deno.readFile(path);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal((8 + n) % 8, 0, "data section aligned to 8 bytes");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "b.safetensors",
        "model.safetensors",
      ]);
      await assert.rejects(
        io.load(`${dir}/nope.safetensors`),
        /^Error: io\.load: .*nope\.safetensors: No such file/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("safetensors from other tools", async (t) => {
  await t.step("no kiln.treedef: a flat object of name -> tensor, F16/BF16 as they are", () => {
    // F16 [1, -2, 0.5, inf], BF16 [1, -3.5]
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7c00]).buffer);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc060]).buffer);
    const data = new Uint8Array([...f32Bytes([1, 2, 3, 4, 5, 6]), ...f16, ...bf16]);
    const bytes = rawSafetensors({
      "__metadata__": { format: "pt" },
      "model.a": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
      "model.h": { dtype: "F16", shape: [4], data_offsets: [24, 32] },
      "model.bf": { dtype: "BF16", shape: [2], data_offsets: [32, 36] },
    }, data);
    const out = io.decodeSafetensors(bytes) as Record<string, Tensor>;
    assert.deepEqual(Object.keys(out), ["model.a", "model.h", "model.bf"]);
    assert.deepEqual(out["model.a"].toArray(), [[1, 2, 3], [4, 5, 6]]);
    assert.equal(out["model.h"].dtype, "float16");
    assert.deepEqual(Array.from(out["model.h"].dataSync()), [1, -2, 0.5, Infinity]);
    assert.equal(out["model.bf"].dtype, "bfloat16");
    assert.deepEqual(Array.from(out["model.bf"].dataSync()), [1, -3.5]);
    assert.deepEqual(Array.from(out["model.bf"].storageSync()), [0x3f80, 0xc060]);
  });
  await t.step("a tensor named __proto__ stays an own property", () => {
    const bytes = rawSafetensors(
      JSON.parse('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'),
      f32Bytes([9]),
    );
    const out = io.decodeSafetensors(bytes) as Record<string, Tensor>;
    assert.ok(Object.hasOwn(out, "__proto__"));
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
  });
});

Deno.test("safetensors errors", async (t) => {
  const op = "io.decodeSafetensors";
  const dec = (b: Uint8Array) => () => io.decodeSafetensors(b);
  await t.step("offsets inconsistent with the shape", () => {
    const b = rawSafetensors(
      { w: { dtype: "F32", shape: [4], data_offsets: [0, 12] } },
      f32Bytes([1, 2, 3]),
    );
    throwsNaming(
      dec(b),
      op,
      /tensor "w" has data_offsets \[0, 12\] but shape \[4\] float32 needs 16 bytes/,
    );
  });
  await t.step("the file name is in io.load's errors", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/model.safetensors`;
      await Deno.writeFile(
        path,
        rawSafetensors(
          { w: { dtype: "F32", shape: [4], data_offsets: [0, 12] } },
          f32Bytes([1, 2, 3]),
        ),
      );
      await assert.rejects(io.load(path), (e: Error) => {
        assert.match(
          e.message,
          /^io\.load: .*model\.safetensors: tensor "w" has data_offsets \[0, 12\] but shape \[4\] float32 needs 16 bytes$/,
        );
        return true;
      });
      throwsNaming(() => io.loadSync(path), "io.loadSync");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("headers: too short, oversized, beyond the file, not JSON, wrong shapes", () => {
    throwsNaming(dec(new Uint8Array(5)), op, /too short/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    throwsNaming(dec(huge), op, /exceeds the 100000000-byte limit/);
    throwsNaming(
      dec(rawSafetensors({}, new Uint8Array(), 1000)),
      op,
      /exceeds the 2 bytes after it/,
    );
    throwsNaming(dec(rawSafetensors({}, new Uint8Array(), 1)), op, /not valid JSON/);
    const notObj = rawSafetensors([] as unknown as Record<string, unknown>, new Uint8Array());
    throwsNaming(dec(notObj), op, /must be a JSON object/);
    throwsNaming(
      dec(rawSafetensors({ w: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, f32Bytes([1]))),
      op,
      /tensor "w": dtype/,
    );
    throwsNaming(
      dec(
        rawSafetensors({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32Bytes([1])),
      ),
      op,
      /tensor "w": shape\.0/,
    );
    throwsNaming(
      dec(rawSafetensors({ w: { dtype: "F32", shape: [1], data_offsets: [0] } }, f32Bytes([1]))),
      op,
      /data_offsets/,
    );
    throwsNaming(
      dec(rawSafetensors({ __metadata__: { a: 1 } }, new Uint8Array())),
      op,
      /strings to strings/,
    );
  });
  await t.step("layout: beyond the data, overlaps, gaps, uncovered bytes, huge shapes", () => {
    const e = (entries: Record<string, unknown>, n: number) =>
      dec(rawSafetensors(entries, new Uint8Array(n)));
    throwsNaming(
      e({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, 4),
      op,
      /beyond the 4-byte data section/,
    );
    throwsNaming(
      e({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, 12),
      op,
      /tensors "a" and "b" overlap/,
    );
    throwsNaming(
      e({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8),
      op,
      /4 unused bytes before tensor "a"/,
    );
    throwsNaming(
      e({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8),
      op,
      /cover 4 bytes but the data section has 8/,
    );
    throwsNaming(
      e({ a: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, 4),
      op,
      /needs more than 2\^53 bytes/,
    );
    throwsNaming(
      e({ a: { dtype: "I64", shape: [1], data_offsets: [0, 1] } }, 1),
      op,
      /shape \[1\] I64 needs 8 bytes/,
    );
  });
  await t.step("unsupported dtypes are named (after their sizes are checked)", () => {
    for (const dtype of ["I64", "U8", "F8_E4M3", "U64", "I16"]) {
      const n = dtype.endsWith("64") ? 8 : dtype === "I16" ? 2 : 1;
      const b = rawSafetensors(
        { a: { dtype, shape: [2], data_offsets: [0, 2 * n] } },
        new Uint8Array(2 * n),
      );
      throwsNaming(dec(b), op, new RegExp(`tensor "a" has dtype ${dtype}, which Kiln cannot hold`));
    }
  });
  await t.step("a corrupt treedef", () => {
    const good = io.encodeSafetensors({ a: np.array([1]) });
    const info = io.inspectSafetensors(good);
    const mk = (treedef: string) =>
      rawSafetensors({
        __metadata__: { "kiln.treedef": treedef },
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      }, f32Bytes([1]));
    assert.ok(info.metadata["kiln.treedef"]);
    throwsNaming(dec(mk("{")), op, /not valid JSON/);
    throwsNaming(
      dec(mk(JSON.stringify({ version: 1, def: { kind: "leaf" }, leaves: [{ name: "b" }] }))),
      op,
      /lacks/,
    );
    throwsNaming(
      dec(mk(JSON.stringify({ version: 1, def: { kind: "nope" }, leaves: [{ name: "a" }] }))),
      op,
      /def/,
    );
    throwsNaming(
      dec(
        mk(
          JSON.stringify({
            version: 1,
            def: { kind: "array", children: [] },
            leaves: [{ name: "a" }],
          }),
        ),
      ),
      op,
      /0 leaves but names 1/,
    );
    throwsNaming(
      dec(mk(JSON.stringify({ version: 1, def: { kind: "leaf" }, leaves: [] }))),
      op,
      /not part of/,
    );
    let deep: unknown = { kind: "leaf" };
    for (let i = 0; i < 5000; i++) deep = { kind: "array", children: [deep] };
    throwsNaming(
      dec(mk(JSON.stringify({ version: 1, def: deep, leaves: [{ name: "a" }] }))),
      op,
      /nests deeper/,
    );
  });
  await t.step("writers refuse colliding key paths and reserved names", () => {
    const x = np.array([1]);
    throwsNaming(
      () => io.encodeSafetensors({ "a.b": x, a: { b: x } }),
      "io.encodeSafetensors",
      /key path "a\.b"/,
    );
    throwsNaming(
      () => io.encodeSafetensors({ __metadata__: x }),
      "io.encodeSafetensors",
      /__metadata__/,
    );
    throwsNaming(
      () => io.encodeSafetensors({ x }, { metadata: { "kiln.treedef": "" } }),
      "io.encodeSafetensors",
      /reserved/,
    );
    throwsNaming(
      () => io.encodeSafetensors({ x }, { metadata: { a: 1 } } as never),
      "io.encodeSafetensors",
      /options: metadata\.a/,
    );
    throwsNaming(
      () => io.encodeSafetensors({ x: new Map() }),
      "io.encodeSafetensors",
      /unsupported Map/,
    );
    throwsNaming(() => io.saveSync("/nonexistent-dir/x.safetensors", { x }), "io.saveSync");
  });
});
