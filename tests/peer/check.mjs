// Loads many GGUF files in llama.cpp (through the llamacpp-peer install) in one process and, for
// each, does what the peer's `info`, `tokenize` and `greedy` commands do. Prints one JSON line per
// file: {"file", "ok", "error"?, "arch", "ids", "greedy"}.
//   node tests/peer/check.mjs PEER_DIR --text STR [-n 8] FILE...
import {pathToFileURL} from "node:url";

const args = process.argv.slice(2);
const peer = args.shift();
let text = "Hello world", n = 8;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--text") text = args[++i];
  else if (args[i] === "-n") n = +args[++i];
  else files.push(args[i]);
}
const {getLlama} = await import(pathToFileURL(`${peer}/node_modules/node-llama-cpp/dist/index.js`).href);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
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
    await model.dispose();
  } catch (e) {
    out.error = String(e?.message ?? e).split("\n")[0];
  }
  if (!out.ok) failed++;
  console.log(JSON.stringify(out));
}
process.exit(failed ? 1 : 0);
