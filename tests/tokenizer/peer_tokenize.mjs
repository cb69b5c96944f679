// Tokenizes many strings with llama.cpp (node-llama-cpp from the llamacpp-peer folder) in one
// process, for the tokenizer agreement test (tests/unit/test_tokenizer_peer.c).
//   node peer_tokenize.mjs PEER_DIR TASKS.json
// TASKS.json: [{"model": PATH, "special": bool, "texts": [STR, ...]}, ...]
// Prints one JSON line: [[ids of text 0, ids of text 1, ...] per task] (add_special=false); with
// "detok": true in a task, each entry is instead {"ids": [...], "text": detokenize(ids)} (llama.cpp's
// detokenize with special tokens rendered).
import {readFileSync} from "node:fs";
import {pathToFileURL} from "node:url";

const [peer, tasksPath] = process.argv.slice(2);
const {getLlama} = await import(pathToFileURL(`${peer}/node_modules/node-llama-cpp/dist/index.js`).href);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const tasks = JSON.parse(readFileSync(tasksPath, "utf8"));
const models = new Map();
const out = [];
for (const task of tasks) {
  if (!models.has(task.model)) {
    models.set(task.model, await llama.loadModel({modelPath: task.model, vocabOnly: true}));
  }
  const m = models.get(task.model);
  out.push(task.texts.map((t) => {
    const ids = m.tokenize(t, !!task.special);
    return task.detok ? {ids: Array.from(ids), text: m.detokenize(ids, true)} : Array.from(ids);
  }));
}
console.log(JSON.stringify(out));
