// `owl serve` over a model store, through the real ollama and openai clients: models loaded on
// demand by name, keep_alive (default, a duration, 0, negative), /api/ps and `owl ps`, eviction
// of the least recently used model within --memory-budget, and pull/copy/delete/show/list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { NotFoundError } from 'openai';
import { Ollama } from 'ollama';
import { startOwl, shared } from './harness.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const owlBin = path.resolve(root, process.env.OWL_BUILD || 'build', 'owl');
const model = path.join(shared, 'models/stories260K/stories260K.gguf');
const have = fs.existsSync(model);
const skip = have ? false : 'stories260K is absent from ../shared';

let home, www, server, files, ollama, openai;

before(async () => {
  if (!have) return;
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'owl-store-'));
  www = path.join(home, 'www');
  fs.mkdirSync(www);
  fs.copyFileSync(model, path.join(www, 'tiny.gguf'));
  process.env.OWL_HOME = path.join(home, 'store');
  // Three names for the same tiny file; the registry loads each name as its own model.
  for (const name of ['alpha', 'beta', 'gamma']) {
    const mf = path.join(home, `${name}.Modelfile`);
    fs.writeFileSync(mf, `FROM ${model}\nPARAMETER temperature 0\nPARAMETER stop "Lily"\n`);
    execFileSync(owlBin, ['create', name, '-f', mf]);
  }
  // A fourth name whose Modelfile TEMPLATE turns any chat into the prompt "One day".
  const mf = path.join(home, 'delta.Modelfile');
  fs.writeFileSync(mf, `FROM ${model}\nPARAMETER temperature 0\nPARAMETER stop "Lily"\nTEMPLATE "One day{% for m in messages %}{% endfor %}"\n`);
  execFileSync(owlBin, ['create', 'delta', '-f', mf]);
  // Each loaded copy is estimated at about 1.3 MiB (1.1 MiB file + a 256-token KV cache): two
  // fit in 3 MiB, three do not.
  server = await startOwl(['--memory-budget', '3M', '-t', '1', '-c', '256']);
  ollama = new Ollama({ host: server.url });
  openai = new OpenAI({ apiKey: 'none', baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 30000 });
  // The loopback file server for /api/pull.
  const child = spawn('node', [path.join(root, 'tests/server/fileserver.mjs'), www, path.join(home, 'http.log')],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`file server exited ${code}`)));
  });
  files = { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
});

after(async () => {
  if (files) files.stop();
  if (server) {
    const { code } = await server.stop();
    assert.equal(code, 0);
  }
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

const loaded = async () => (await ollama.ps()).models.map((m) => m.name).sort();
const ask = (name, extra = {}) =>
  ollama.generate({ model: name, prompt: 'Once', stream: false, options: { num_predict: 4 }, ...extra });

test('the store is listed by /api/tags and /v1/models', { skip }, async () => {
  const tags = await ollama.list();
  assert.deepEqual(tags.models.map((m) => m.name), ['alpha:latest', 'beta:latest', 'delta:latest', 'gamma:latest']);
  assert.equal(tags.models[0].details.format, 'gguf');
  assert.equal(tags.models[0].details.family, 'llama');
  const models = await openai.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['alpha:latest', 'beta:latest', 'delta:latest', 'gamma:latest']);
  assert.equal((await openai.models.retrieve('beta:latest')).id, 'beta:latest');
  assert.deepEqual(await loaded(), []);
});

test('two models load on demand by name, through both clients', { skip }, async () => {
  const g = await ask('alpha');
  assert.equal(g.model, 'alpha');
  assert.ok(g.response.length > 0);
  const c = await openai.chat.completions.create({
    model: 'beta', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4,
  });
  assert.equal(c.model, 'beta');
  assert.deepEqual(await loaded(), ['alpha:latest', 'beta:latest']);
});

test('Modelfile defaults apply: temperature 0 and a stop string', { skip }, async () => {
  const gen = () => ollama.generate({ model: 'alpha', prompt: 'Once upon a time', stream: false, options: { num_predict: 100 } });
  const r = await gen();
  assert.match(r.response, /little girl named $/);
  assert.equal(r.done_reason, 'stop');
  assert.equal((await gen()).response, r.response, 'greedy: the same text again');
});

test('/api/ps shows memory and expiry: default 5m, a duration, negative', { skip }, async () => {
  let ps = await ollama.ps();
  const a = ps.models.find((m) => m.name === 'alpha:latest');
  assert.ok(a.size > fs.statSync(model).size, 'size counts the file and the KV cache');
  let left = new Date(a.expires_at) - Date.now();
  assert.ok(left > 4 * 60e3 && left <= 5 * 60e3 + 2e3, `default keep_alive: ${left} ms`);

  await ask('alpha', { keep_alive: '30s' });
  ps = await ollama.ps();
  left = new Date(ps.models.find((m) => m.name === 'alpha:latest').expires_at) - Date.now();
  assert.ok(left > 20e3 && left <= 32e3, `keep_alive 30s: ${left} ms`);

  await ask('beta', { keep_alive: -1 });
  ps = await ollama.ps();
  const b = ps.models.find((m) => m.name === 'beta:latest');
  assert.ok(new Date(b.expires_at).getUTCFullYear() > 2200, `forever: ${b.expires_at}`);

  const out = execFileSync(owlBin, ['ps', '--port', String(server.port)], { encoding: 'utf8' });
  assert.match(out, /^NAME\s+ID\s+SIZE\s+UNTIL$/m);
  assert.match(out, /^alpha:latest\s+270cba1bd510\s+.*seconds from now$/m);
  assert.match(out, /^beta:latest\s+.*Forever$/m);
});

test('a third model evicts the least recently used idle one', { skip }, async () => {
  await ask('beta');
  await ask('alpha'); // alpha is now the more recent
  await ask('gamma');
  assert.deepEqual(await loaded(), ['alpha:latest', 'gamma:latest']);
  await ask('beta');
  assert.deepEqual(await loaded(), ['beta:latest', 'gamma:latest']);
});

test('keep_alive 0 unloads as soon as the answer is done', { skip }, async () => {
  const r = await ollama.chat({
    model: 'gamma', messages: [{ role: 'user', content: 'hi' }], keep_alive: 0, options: { num_predict: 2 },
  });
  assert.equal(r.done, true);
  assert.deepEqual(await loaded(), ['beta:latest']);
});

test('an empty generate loads a model; with keep_alive 0 it unloads', { skip }, async () => {
  const r = await ollama.generate({ model: 'alpha', prompt: '', stream: false });
  assert.equal(r.done, true);
  assert.equal(r.response, '');
  assert.deepEqual(await loaded(), ['alpha:latest', 'beta:latest']);
  await ollama.generate({ model: 'alpha', prompt: '', keep_alive: 0, stream: false });
  assert.deepEqual(await loaded(), ['beta:latest']);
});

test('a model the store lacks is a 404 in both clients', { skip }, async () => {
  await assert.rejects(ask('ghost'), (e) => {
    assert.equal(e.status_code, 404);
    assert.match(e.message, /model 'ghost' not found, try pulling it first/);
    return true;
  });
  await assert.rejects(
    openai.chat.completions.create({ model: 'ghost', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof NotFoundError && e.param === 'model');
  await assert.rejects(openai.models.retrieve('ghost'), (e) => e instanceof NotFoundError);
});

test('pull streams Ollama-style progress, then the model serves', { skip }, async () => {
  const statuses = [];
  let last = null;
  for await (const p of await ollama.pull({ model: `${files.url}/files/tiny.gguf`, stream: true })) {
    statuses.push(p.status);
    if (p.status === 'downloading') last = p;
  }
  assert.equal(statuses[0], 'pulling manifest');
  assert.ok(statuses.includes('verifying sha256 digest'));
  assert.equal(statuses.at(-1), 'success');
  assert.equal(last.total, fs.statSync(model).size);
  assert.equal(last.completed, last.total);
  assert.match(last.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok((await ollama.list()).models.some((m) => m.name === 'tiny:latest'));
  assert.ok((await ask('tiny')).response.length > 0);

  await assert.rejects(ollama.pull({ model: `${files.url}/files/missing.gguf`, stream: true }).then(async (it) => {
    for await (const p of it) void p;
  }), /HTTP 404/);
});

test('show, copy and delete', { skip }, async () => {
  const s = await ollama.show({ model: 'alpha' });
  assert.equal(s.details.family, 'llama');
  assert.match(s.parameters, /^temperature\s+0$/m);
  assert.match(s.modelfile, /^PARAMETER stop "Lily"$/m);
  assert.equal(s.model_info['general.architecture'], 'llama');
  await ollama.copy({ source: 'alpha', destination: 'alpha:copy' });
  assert.ok((await ollama.list()).models.some((m) => m.name === 'alpha:copy'));
  await ollama.delete({ model: 'alpha:copy' });
  assert.ok(!(await ollama.list()).models.some((m) => m.name === 'alpha:copy'));
  await assert.rejects(ollama.delete({ model: 'alpha:copy' }), (e) => e.status_code === 404);
  await assert.rejects(ollama.show({ model: 'nope' }), (e) => e.status_code === 404);
});

test('a Modelfile TEMPLATE replaces the chat template of the file', { skip }, async () => {
  const chat = await ollama.chat({
    model: 'delta', messages: [{ role: 'user', content: 'anything' }], options: { num_predict: 12 },
  });
  const raw = await ollama.generate({
    model: 'alpha', prompt: 'One day', raw: true, stream: false, options: { num_predict: 12 },
  });
  assert.equal(chat.prompt_eval_count, raw.prompt_eval_count);
  assert.equal(chat.message.content, raw.response);
});

test('two requests at once for an unloaded model load it once', { skip }, async () => {
  await ollama.generate({ model: 'gamma', prompt: '', keep_alive: 0, stream: false });
  const [a, b] = await Promise.all([ask('gamma'), ask('gamma')]);
  assert.equal(a.response, b.response);
  assert.equal((await loaded()).filter((n) => n === 'gamma:latest').length, 1);
});

test('a model larger than the whole budget is a 503 naming both sizes', { skip }, async () => {
  const small = await startOwl(['--memory-budget', '1M', '-t', '1']);
  try {
    const o = new Ollama({ host: small.url });
    await assert.rejects(o.generate({ model: 'alpha', prompt: 'x', stream: false }), (e) => {
      assert.equal(e.status_code, 503);
      assert.match(e.message, /model 'alpha:latest' needs about \d+ MiB, more than the memory budget of 1 MiB/);
      return true;
    });
  } finally {
    assert.equal((await small.stop()).code, 0);
  }
});

test('a client that leaves /api/pull stops it; the next pull resumes', { skip }, async () => {
  const url = `${files.url}/slow/tiny.gguf`;
  const ac = new AbortController();
  const res = await fetch(`${server.url}/api/pull`, {
    method: 'POST', body: JSON.stringify({ model: url, as: 'resumed' }), signal: ac.signal,
  });
  const reader = res.body.getReader();
  let seen = '';
  while (!seen.includes('"completed"')) seen += new TextDecoder().decode((await reader.read()).value);
  await new Promise((r) => setTimeout(r, 300));
  ac.abort();
  const partials = path.join(process.env.OWL_HOME, 'blobs/partial');
  let kept = 0;
  for (let i = 0; i < 50 && !kept; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const f = fs.readdirSync(partials).find((n) => n.endsWith('.partial'));
    // the pull has stopped once the partial file is unlocked and no longer grows
    if (f) {
      const a = fs.statSync(path.join(partials, f)).size;
      await new Promise((r) => setTimeout(r, 200));
      if (fs.statSync(path.join(partials, f)).size === a && a > 0) kept = a;
    }
  }
  assert.ok(kept > 0 && kept < fs.statSync(model).size, `partial of ${kept} bytes kept`);
  const r = await fetch(`${server.url}/api/pull`, {
    method: 'POST', body: JSON.stringify({ model: url, as: 'resumed', stream: false }),
  });
  assert.deepEqual(await r.json(), { status: 'success' });
  const log = fs.readFileSync(path.join(home, 'http.log'), 'utf8');
  assert.match(log, new RegExp(`^GET /slow/tiny.gguf bytes=${kept}-$`, 'm'));
  assert.ok((await ollama.list()).models.some((m) => m.name === 'resumed:latest'));
  assert.deepEqual(fs.readdirSync(partials), []);
});
