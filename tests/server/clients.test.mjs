// The server through the official clients: the openai and ollama npm packages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIError, AuthenticationError, NotFoundError, BadRequestError } from 'openai';
import { Ollama } from 'ollama';
import { startServer } from './harness.mjs';

const KEY = 'test-key';
let server;

before(async () => { server = await startServer(['--api-key', KEY]); });
after(async () => {
  const { code, signal } = await server.stop();
  assert.equal(signal, null);
  assert.equal(code, 0);
});

const client = (apiKey = KEY) =>
  new OpenAI({ apiKey, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 10000 });

test('GET /health needs no key', async () => {
  const res = await fetch(`${server.url}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok', model: 'fake' });
});

test('a wrong key surfaces as the client\'s AuthenticationError', async () => {
  await assert.rejects(client('wrong').models.list(), (e) => {
    assert.ok(e instanceof AuthenticationError);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
});

test('an unknown model id is a NotFoundError', async () => {
  await assert.rejects(client().models.retrieve('nope'), (e) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.param, 'model');
    return true;
  });
});

test('an invalid parameter is a BadRequestError naming it', async () => {
  await assert.rejects(
    client().chat.completions.create({
      model: 'fake', messages: [{ role: 'user', content: 'x' }], temperature: 5,
    }),
    (e) => {
      assert.ok(e instanceof BadRequestError && e instanceof APIError);
      assert.equal(e.param, 'temperature');
      return true;
    });
});

test('models.list and chat completions, plain and streamed', async () => {
  const c = client();
  const models = await c.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['fake']);

  const r = await c.chat.completions.create({
    model: 'fake', messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'Hello world!');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);

  const stream = await c.chat.completions.create({
    model: 'fake', messages: [{ role: 'user', content: 'hi' }], stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      text += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(text, 'Hello world!');
  assert.equal(finish, 'stop');
  assert.equal(usage.completion_tokens, 3);
});

test('the ollama client: chat streamed and generate', async () => {
  const o = new Ollama({ host: server.url, headers: { Authorization: `Bearer ${KEY}` } });
  let text = '', last = null;
  for await (const part of await o.chat({ model: 'fake', messages: [{ role: 'user', content: 'x' }], stream: true })) {
    text += part.message.content;
    last = part;
  }
  assert.equal(text, 'Hello world!');
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  const g = await o.generate({ model: 'fake', prompt: 'x', stream: false });
  assert.equal(g.response, 'Hello world!');
  assert.equal(g.eval_count, 3);
  const v = await o.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
});
