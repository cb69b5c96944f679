// llama.cpp's side of bench/tokenizer.sh: tokenizes a file N times with node-llama-cpp (from the
// llamacpp-peer folder) and prints the fastest run as one JSON line.
//   node tokenizer_peer.mjs PEER_DIR MODEL.gguf TEXT_FILE [N]
import {readFileSync} from "node:fs";
import {pathToFileURL} from "node:url";

const [peer, model, file, reps = "3"] = process.argv.slice(2);
const {getLlama} = await import(pathToFileURL(`${peer}/node_modules/node-llama-cpp/dist/index.js`).href);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const m = await llama.loadModel({modelPath: model, vocabOnly: true});
const text = readFileSync(file, "utf8");
let best = Infinity, n = 0;
for (let r = 0; r < +reps; r++) {
  const t0 = performance.now();
  n = m.tokenize(text, false).length;
  best = Math.min(best, (performance.now() - t0) / 1000);
}
console.log(JSON.stringify({tokens: n, bytes: Buffer.byteLength(text), seconds: +best.toFixed(6),
                            tokens_per_s: Math.round(n / best)}));
