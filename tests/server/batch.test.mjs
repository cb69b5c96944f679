// Continuous batching and logprobs: owl serve on stories260K with 4 slots and a small prefill
// chunk (so that long prompts are read over several steps while other streams run), through the
// openai client and raw HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startOwl, shared } from './harness.mjs';

const model = path.join(shared, 'models/stories260K/stories260K.gguf');
const have = fs.existsSync(model);
const skip = have ? false : 'stories260K is absent from ../shared';
let server, client;

before(async () => {
  if (!have) return;
  server = await startOwl([model, '--parallel', '4', '--prefill-chunk', '8', '-t', '1', '-c', '4096']);
  client = new OpenAI({ apiKey: 'none', baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 30000 });
});
after(async () => {
  if (!server) return;
  const { code } = await server.stop();
  assert.equal(code, 0);
});

const post = (p, body) => fetch(server.url + p, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

const prompts = [
  'Once upon a time',
  'The little dog was sad because',
  'Lily and Ben went to the park. They saw a big tree and a small bird. The bird was singing a happy song. Lily wanted to',
  'One day',
  'Tom had a red ball. He liked to play with it every day. One day the ball rolled into the garden and Tom ran after it. In the garden there was',
  'Sue',
];

test('streams decoded together equal the same requests alone', { skip }, async () => {
  const ask = async (prompt) => {
    const s = await client.completions.create({ model: 'x', prompt, max_tokens: 40, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
    return text;
  };
  const alone = [];
  for (const p of prompts) alone.push(await ask(p));
  // six requests on four slots: two wait in the queue and join between steps
  const together = await Promise.all(prompts.map(ask));
  assert.deepEqual(together, alone);
  assert.ok(alone.every((t) => t.length > 0));
});

// The entries of chat logprobs: greedy picks the most likely token, which is top_logprobs[0].
function checkChatEntries(entries, text, nTop) {
  assert.equal(entries.map((e) => e.token).join(''), text);
  for (const e of entries) {
    assert.deepEqual(Object.keys(e), ['token', 'logprob', 'bytes', 'top_logprobs']);
    assert.equal(Buffer.from(e.bytes).toString('utf8'), e.token);
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, nTop);
    if (nTop) {
      assert.equal(e.top_logprobs[0].token, e.token);
      assert.equal(e.top_logprobs[0].logprob, e.logprob);
      assert.deepEqual(Object.keys(e.top_logprobs[0]), ['token', 'logprob', 'bytes']);
    }
    for (let i = 1; i < e.top_logprobs.length; i++) assert.ok(e.top_logprobs[i].logprob <= e.top_logprobs[i - 1].logprob);
    const mass = e.top_logprobs.reduce((a, t) => a + Math.exp(t.logprob), 0);
    assert.ok(mass <= 1 + 1e-5);
  }
}

// Entries equal but for the logprobs, which may differ by float rounding.
function sameLogprobs(a, b) {
  const strip = (e) => ({ ...e, logprob: 0, top_logprobs: e.top_logprobs?.map((t) => ({ ...t, logprob: 0 })) });
  assert.deepEqual(a.map(strip), b.map(strip));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i].logprob - b[i].logprob) < 1e-4, `token ${i}: ${a[i].logprob} vs ${b[i].logprob}`);
    (a[i].top_logprobs ?? []).forEach((t, j) => assert.ok(Math.abs(t.logprob - b[i].top_logprobs[j].logprob) < 1e-4));
  }
}

test('chat logprobs through the openai client, plain and streamed', { skip }, async () => {
  const req = { model: 'x', messages: [{ role: 'user', content: 'Tell a story' }], max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await client.chat.completions.create(req);
  const lp = r.choices[0].logprobs;
  assert.equal(lp.refusal, null);
  assert.equal(lp.content.length, r.usage.completion_tokens);
  checkChatEntries(lp.content, r.choices[0].message.content, 3);

  const s = await client.chat.completions.create({ ...req, stream: true });
  let text = '';
  const entries = [];
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta.content ?? '';
    if (c.logprobs) entries.push(...c.logprobs.content);
  }
  assert.equal(text, r.choices[0].message.content);
  checkChatEntries(entries, text, 3);
  // The same tokens and top lists; the numbers agree to float rounding (the second request finds
  // its prompt in the cache and reads the last prompt token alone, not in a batched product).
  sameLogprobs(entries, lp.content);

  // logprobs without top_logprobs: the chosen tokens only
  const r0 = await client.chat.completions.create({ ...req, top_logprobs: undefined });
  checkChatEntries(r0.choices[0].logprobs.content, r0.choices[0].message.content, 0);
  // not asked for: null
  const rn = await client.chat.completions.create({ ...req, logprobs: undefined, top_logprobs: undefined });
  assert.equal(rn.choices[0].logprobs, null);
});

test('completion logprobs in the legacy shape, plain and streamed over raw HTTP', { skip }, async () => {
  const body = { prompt: 'Once upon a time', max_tokens: 10, temperature: 0, logprobs: 2 };
  const r = await (await post('/v1/completions', body)).json();
  const lp = r.choices[0].logprobs;
  assert.deepEqual(Object.keys(lp).sort(), ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs']);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
  assert.equal(lp.tokens.length, 10);
  assert.equal(lp.token_logprobs.length, 10);
  for (let i = 0; i < 10; i++) {
    const top = Object.entries(lp.top_logprobs[i]);
    assert.ok(top.length >= 1 && top.length <= 2);
    assert.equal(top[0][0], lp.tokens[i]); // greedy: the chosen token is the most likely
    assert.equal(top[0][1], lp.token_logprobs[i]);
    assert.equal(lp.text_offset[i], lp.tokens.slice(0, i).join('').length);
  }

  const res = await post('/v1/completions', { ...body, stream: true });
  const raw = await res.text();
  const chunks = raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  const tokens = [], offsets = [];
  let text = '';
  for (const c of chunks) {
    text += c.choices[0].text;
    if (c.choices[0].logprobs) {
      tokens.push(...c.choices[0].logprobs.tokens);
      offsets.push(...c.choices[0].logprobs.text_offset);
    }
  }
  assert.equal(text, r.choices[0].text);
  assert.deepEqual(tokens, lp.tokens);
  assert.deepEqual(offsets, lp.text_offset);
  // the last chunk carries the finish reason and no logprobs
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  assert.equal(chunks.at(-1).choices[0].logprobs, null);
});

test('chat logprobs over raw HTTP keep the field order of the API', { skip }, async () => {
  const r = await (await post('/v1/chat/completions', {
    messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 1,
  })).json();
  const c = r.choices[0];
  assert.deepEqual(Object.keys(c), ['index', 'message', 'logprobs', 'finish_reason']);
  assert.deepEqual(Object.keys(c.logprobs), ['content', 'refusal']);
  assert.equal(c.logprobs.content.length, 3);
});

test('a client that goes away frees its slot', { skip }, async () => {
  const busy = async () => {
    const m = await (await fetch(`${server.url}/metrics`)).text();
    return Number(m.match(/^owl_busy_slots (\d+)/m)[1]);
  };
  // four long streams fill every slot; each is dropped after its first chunk
  const ctrls = [];
  await Promise.all([0, 1, 2, 3].map(async (i) => {
    const ctrl = new AbortController();
    ctrls.push(ctrl);
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctrl.signal,
      body: JSON.stringify({ prompt: prompts[i], max_tokens: 4000, temperature: 0, stream: true, logit_bias: { 2: -100 } }),
    });
    const reader = res.body.getReader();
    await reader.read();
  }));
  assert.ok(await busy() > 0);
  for (const c of ctrls) c.abort();
  const t0 = Date.now();
  while (await busy() > 0) {
    assert.ok(Date.now() - t0 < 2000, 'slots still busy 2 s after the clients left');
    await new Promise((r) => setTimeout(r, 10));
  }
  // and the slots serve again
  const r = await client.completions.create({ model: 'x', prompt: 'Sue', max_tokens: 4, temperature: 0 });
  assert.equal(r.usage.completion_tokens, 4);
});

test('a multi-turn chat finds its history in the slot that holds it', { skip }, async () => {
  const messages = [{ role: 'user', content: 'Tell me a story about a cat and a dog who were friends.' }];
  const t1 = await client.chat.completions.create({ model: 'x', messages, max_tokens: 12, temperature: 0 });
  messages.push({ role: 'assistant', content: t1.choices[0].message.content });
  // other requests use the other slots in between
  await Promise.all(prompts.slice(0, 3).map((prompt) => client.completions.create({ model: 'x', prompt, max_tokens: 8, temperature: 0 })));
  messages.push({ role: 'user', content: 'What happened next?' });
  const t2 = await client.chat.completions.create({ model: 'x', messages, max_tokens: 4, temperature: 0 });
  // the whole first prompt comes from the cache (and the answer, as far as it re-tokenizes alike)
  assert.ok(t2.usage.prompt_tokens_details.cached_tokens >= t1.usage.prompt_tokens,
    `cached ${t2.usage.prompt_tokens_details.cached_tokens} of ${t2.usage.prompt_tokens}, first prompt ${t1.usage.prompt_tokens}`);
});

test('cache_prompt: false reads the whole prompt again', { skip }, async () => {
  const body = { model: 'x', prompt: 'Once upon a time there was a big red ball', max_tokens: 2, temperature: 0 };
  await client.completions.create(body);
  const cached = await client.completions.create(body);
  assert.equal(cached.usage.prompt_tokens_details.cached_tokens, cached.usage.prompt_tokens - 1);
  const fresh = await client.completions.create({ ...body, cache_prompt: false });
  assert.equal(fresh.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(fresh.choices[0].text, cached.choices[0].text);
  const bad = await post('/v1/completions', { prompt: 'x', cache_prompt: 'no' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'cache_prompt');
});

test('a prompt reuses the prefix held by a busy slot', { skip }, async () => {
  const shared = 'The sun was warm and the sky was blue. A little fox walked to the river to drink. On the way he met a frog who liked to sing.';
  // A keeps its slot busy (a long stream), B starts with the same text
  const ctrl = new AbortController();
  const res = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctrl.signal,
    body: JSON.stringify({ prompt: `${shared} The fox`, max_tokens: 3000, temperature: 0, stream: true, logit_bias: { 2: -100 } }),
  });
  await res.body.getReader().read();
  const b = await client.completions.create({ model: 'x', prompt: `${shared} The frog`, max_tokens: 4, temperature: 0 });
  ctrl.abort();
  const alone = await client.completions.create({ model: 'x', prompt: `${shared} The frog`, max_tokens: 4, temperature: 0, cache_prompt: false });
  assert.ok(b.usage.prompt_tokens_details.cached_tokens >= 20,
    `cached ${b.usage.prompt_tokens_details.cached_tokens} of ${b.usage.prompt_tokens}`);
  assert.equal(b.choices[0].text, alone.choices[0].text);
});
