// Loads many GGUF files in llama.cpp (through the llamacpp-peer install) in one process and, for
// each, does what the peer's `info`, `tokenize` and `greedy` commands do. Prints one JSON line per
// file: {"file", "ok", "error"?, "arch", "ids", "greedy"}.
//   node tests/peer/check.mjs PEER_DIR --text STR [-n 8] [--ids CSV] FILE...
//
// With --ids, each FILE also has owl's answer next to it (from `owl logits FILE --ids CSV -o
// FILE.owl.f32 -n 32 > FILE.owl.json`), and the logits of every position of that prompt are
// compared with llama.cpp's, as is owl's greedy continuation; the line then also carries
// {"type", "top1", "top1_strict", "positions", "maxd", "maxd_full", "range", "greedy_same", "greedy_tie"} and
// "ok" includes the tolerances of the table below.
//
// How the comparison stays cheap on 150k-token vocabularies: node-llama-cpp hands logits over as
// a Map of every token (sorting all of them first), ~60 ms per position; asked through a top-k
// sampler it returns only the k best, sorted, in ~2 ms. So at every position the 64 best logits
// of llama.cpp are compared (the tokens that decide sampling), and all n_vocab of them at the
// last prompt position. (The peer's own `logits` command fails on such vocabularies: it spreads
// 150k keys into Math.max(...), which overflows the stack.) The greedy continuation is checked by
// teacher forcing: the prompt plus owl's 31 first generated tokens run in one batch, and at each
// step llama.cpp's best token must be owl's next one; greedy decoding is then identical.
import {pathToFileURL} from "node:url";
import {readFileSync} from "node:fs";

// Tolerances per tensor type. R = range (max - min) of owl's logits over all positions; maxd is
// the largest |owl - llama.cpp| over the compared logits, at most rel·R. top1 = positions whose
// best token is the same, at least 99% of them for every type, where a position whose best
// tokens lie closer together in llama.cpp than the tolerance lets the two sides differ (2·rel·R:
// each side may be off by rel·R) counts as a tie and agrees either way; the strict count is
// reported too. Greedy: tokens identical for the types marked so, except after such a tie.
const TOL = {
  f32: {rel: 1e-4, top1: 1.0, greedy: true},   // float rounding only
  f16: {rel: 2e-3, top1: 0.99, greedy: true},  // f16 weights: rounding of the products' order
  bf16: {rel: 1e-2, top1: 0.99},               // bf16 activations on both sides
  // The quantized types use 8-bit activations on both sides. Most positions agree to 1e-5, but
  // when a float differs by an ulp somewhere upstream and an activation lies on a rounding edge,
  // one 8-bit code differs; if that happens in a K/V row, every later position moves by a few
  // tenths (docs/engine.md), which flips the near-ties at the top of random-weight twins.
  q8_0: {rel: 1.5e-2, top1: 0.99, greedy: true},
  q4_0: {rel: 2e-2, top1: 0.99},
  q4_1: {rel: 2e-2, top1: 0.99},
  q5_0: {rel: 2e-2, top1: 0.99},
  q5_1: {rel: 2e-2, top1: 0.99},
  q2_K: {rel: 2e-2, top1: 0.99},
  q3_K: {rel: 2e-2, top1: 0.99},
  q4_K: {rel: 2e-2, top1: 0.99},
  q5_K: {rel: 2e-2, top1: 0.99},
  q6_K: {rel: 2e-2, top1: 0.99},
};
const TOPK = 64;

const args = process.argv.slice(2);
const peer = args.shift();
let text = "Hello world", n = 8, idsArg = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--text") text = args[++i];
  else if (args[i] === "-n") n = +args[++i];
  else if (args[i] === "--ids") idsArg = args[++i];
  else files.push(args[i]);
}
const {getLlama} = await import(pathToFileURL(`${peer}/node_modules/node-llama-cpp/dist/index.js`).href);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});

const argmax = (row) => {
  let b = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[b]) b = i;
  return b;
};

async function compare(model, file, out) {
  const ids = idsArg.split(",").map(Number);
  const type = /-([A-Za-z0-9_]+)\.gguf$/.exec(file)?.[1];
  const tol = TOL[type];
  if (!tol) throw new Error(`no tolerance for type ${type}`);
  const owlRun = JSON.parse(readFileSync(`${file}.owl.json`, "utf8"));
  const raw = readFileSync(`${file}.owl.f32`);
  const owl = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const nv = owlRun.n_vocab, np = ids.length;
  if (owlRun.positions !== np || owl.length !== np * nv) throw new Error("owl logits have the wrong size");
  const row = (p) => owl.subarray(p * nv, (p + 1) * nv);
  let lo = Infinity, hi = -Infinity;
  for (const v of owl) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const range = hi - lo, maxAllowed = tol.rel * range;

  const greedy = owlRun.greedy;
  const input = ids.concat(greedy.slice(0, -1));
  const topk = {logits: true, options: {topK: TOPK, temperature: 1, topP: 1, minP: 0}};
  const ctx = await model.createContext({contextSize: input.length + 8, batchSize: input.length, threads: {ideal: 2, min: 1}});
  const seq = ctx.getSequence();
  const res = await seq.controlledEvaluate(input.map((t, i) => [t, {generateNext: i === np - 1 ? {logits: true} : topk}]));
  await ctx.dispose();

  let top1 = 0, strict = 0, maxd = 0, maxdFull = 0;
  for (let p = 0; p < np; p++) {
    const ref = res[p].next.logits, got = row(p), mine = argmax(got);
    let best = -1, bestv = -Infinity, minev = -Infinity;
    for (const [tok, v] of ref) {
      if (v > bestv) { bestv = v; best = tok; }
      if (tok === mine) minev = v;
      const d = Math.abs(got[tok] - v);
      if (d > maxd) maxd = d;
      if (p === np - 1 && d > maxdFull) maxdFull = d;
    }
    if (mine === best) strict++;
    if (mine === best || bestv - minev <= 2 * maxAllowed) top1++;
  }
  // Greedy by teacher forcing: step s predicts greedy[s] from the prompt and greedy[0..s-1].
  let same = 0, tie = false;
  for (let s = 0; s < greedy.length; s++) {
    const ref = [...res[np - 1 + s].next.logits].sort((a, b) => b[1] - a[1]);
    if (ref[0][0] === greedy[s]) { same++; continue; }
    const mine = ref.find(([tok]) => tok === greedy[s]);
    tie = mine !== undefined && ref[0][1] - mine[1] <= maxAllowed;
    break;
  }
  Object.assign(out, {type, top1, top1_strict: strict, positions: np, maxd: +maxd.toPrecision(3), maxd_full: +maxdFull.toPrecision(3),
                      range: +range.toPrecision(4), greedy_same: same, greedy_tie: tie});
  const why = [];
  if (top1 < tol.top1 * np) why.push(`top-1 ${top1}/${np} < ${tol.top1}`);
  if (maxd > maxAllowed) why.push(`max |d| ${maxd.toPrecision(3)} > ${tol.rel} * ${range.toPrecision(4)}`);
  if (tol.greedy && same < greedy.length && !tie) why.push(`greedy differs at token ${same} (no tie)`);
  if (why.length) out.error = why.join("; ");
  return why.length === 0;
}

let failed = 0;
for (const file of files) {
  const out = {file, ok: false};
  try {
    const model = await llama.loadModel({modelPath: file});
    out.arch = model.fileInfo.metadata.general.architecture;
    out.ids = model.tokenize(text, false);
    const ctx = await model.createContext({contextSize: 256, batchSize: 64, threads: {ideal: 2, min: 1}});
    const seq = ctx.getSequence();
    const start = out.ids.length ? out.ids : [model.tokens.bos ?? 1];
    out.greedy = [];
    for await (const t of seq.evaluate(start, {temperature: 0})) {
      out.greedy.push(t);
      if (out.greedy.length >= n) break;
    }
    out.ok = out.greedy.length === n;
    await ctx.dispose();
    if (out.ok && idsArg) out.ok = await compare(model, file, out);
    await model.dispose();
  } catch (e) {
    out.error = String(e?.message ?? e).split("\n")[0];
  }
  if (!out.ok) failed++;
  console.log(JSON.stringify(out));
}
process.exit(failed ? 1 : 0);
