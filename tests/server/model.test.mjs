// owl serve with a real model (stories260K from ../shared) through the openai and ollama clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startOwl, shared } from './harness.mjs';

const model = path.join(shared, 'models/stories260K/stories260K.gguf');
const reference = path.join(shared, 'models/reference/stories260K.greedy256.txt');
const have = fs.existsSync(model) && fs.existsSync(reference);
const skip = have ? false : 'stories260K is absent from ../shared';
let server, client;

before(async () => {
  if (!have) return;
  server = await startOwl([model, '--parallel', '2', '-t', '1']);
  client = new OpenAI({ apiKey: 'none', baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 30000 });
});
after(async () => {
  if (!server) return;
  const { code } = await server.stop();
  assert.equal(code, 0);
});

test('greedy completion equals the reference text', { skip }, async () => {
  const r = await client.completions.create({ model: 'x', prompt: '', max_tokens: 256, temperature: 0 });
  // the reference is what `owl run` printed: the text and a closing newline
  assert.equal(r.choices[0].text + '\n', fs.readFileSync(reference, 'utf8'));
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 256);
});

test('the same prompt again reuses the prefix cache', { skip }, async () => {
  const ask = () => client.completions.create({ model: 'x', prompt: 'Once upon a time there was a cat', max_tokens: 4, temperature: 0 });
  await ask();
  const r = await ask();
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, r.usage.prompt_tokens - 1);
});

test('stop strings end the text before them', { skip }, async () => {
  const r = await client.completions.create({ model: 'x', prompt: '', max_tokens: 100, temperature: 0, stop: ['Lily'] });
  assert.equal(r.choices[0].text, 'Once upon a time, there was a little girl named ');
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('a seed reproduces sampled text; n gives several choices', { skip }, async () => {
  const ask = () => client.completions.create({ model: 'x', prompt: 'One day', max_tokens: 24, temperature: 1, seed: 7, n: 2 });
  const [a, b] = [await ask(), await ask()];
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
});

test('chat streams through the openai client', { skip }, async () => {
  const s = await client.chat.completions.create({
    model: 'x', messages: [{ role: 'user', content: 'Tell a story' }], max_tokens: 16, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, first = null;
  for await (const chunk of s) {
    first ??= chunk;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) { text += c.delta.content ?? ''; finish = c.finish_reason ?? finish; }
  }
  assert.equal(first.choices[0].delta.role, 'assistant');
  assert.ok(text.length > 0);
  assert.ok(finish === 'length' || finish === 'stop');
  assert.ok(usage.completion_tokens > 0 && usage.completion_tokens <= 16);
});

test('ollama generate and chat', { skip }, async () => {
  const o = new Ollama({ host: server.url });
  let text = '', last = null;
  for await (const part of await o.generate({ model: 'x', prompt: '', raw: true, options: { num_predict: 12, temperature: 0 }, stream: true })) {
    text += part.response;
    last = part;
  }
  assert.ok(fs.readFileSync(reference, 'utf8').startsWith(text));
  assert.equal(last.done_reason, 'length');
  assert.equal(last.eval_count, 12);
  assert.ok(last.total_duration > 0);
  const c = await o.chat({ model: 'x', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 5 }, stream: false });
  assert.equal(c.done, true);
  assert.equal(c.message.role, 'assistant');
});

test('concurrent streams all finish', { skip }, async () => {
  const one = async () => {
    let n = 0;
    const s = await client.completions.create({ model: 'x', prompt: 'The dog', max_tokens: 20, temperature: 0, stream: true });
    for await (const chunk of s) n += chunk.choices.length ? 1 : 0;
    return n;
  };
  const counts = await Promise.all([one(), one(), one(), one()]);
  for (const n of counts) assert.ok(n >= 2);
});
