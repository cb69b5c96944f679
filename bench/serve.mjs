// The serving benchmark: `owl serve` under concurrent streaming clients, and the time to first
// token of a multi-turn chat with and without the prefix cache. Prints a markdown section.
//
//   node bench/serve.mjs OWL MODEL [--threads N] [--clients 1,4,8,16] [--tokens 64] [--rounds 2]
//                                  [--reps 2]
//                                  [--prefill-chunk N]
//
// Throughput: for each client count C, a server with --parallel C; C clients each stream
// `rounds` completions of `tokens` tokens back to back (distinct prompts, end-of-text banned so
// every request runs to its length). Aggregate tokens/s = all generated tokens / wall time. The
// levels run `reps` times, interleaved (1, 4, 8, 16, 1, 4, ...), and each reports its best run, so
// a burst of load from other processes does not decide a ratio.
// TTFT = request sent → first text chunk; ITL = the gaps between text chunks of one stream.
// Multi-turn: a chat whose history renders to about 1k tokens; each turn appends the answer and a
// new question. TTFT of turns 2.. is measured on a server with the prefix cache and on one with
// --no-prefix-cache.
import { spawn, execFileSync } from 'node:child_process';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const [owl, model] = args;
if (!owl || !model) {
  console.error('usage: node bench/serve.mjs OWL MODEL [--threads N] [--clients 1,4,8,16] [--tokens N] [--rounds N]');
  process.exit(2);
}
const threads = Number(opt('--threads', '2'));
const clientCounts = opt('--clients', '1,4,8,16').split(',').map(Number);
const nTokens = Number(opt('--tokens', '64'));
const rounds = Number(opt('--rounds', '2'));
const reps = Number(opt('--reps', '2'));
// the end-of-text token, banned so that every request runs to its length
const eos = JSON.parse(execFileSync(owl, ['show', '--json', model])).vocabulary?.special?.eos?.id ?? -1;

async function startServer(extra) {
  const chunk = opt('--prefill-chunk', null);
  const child = spawn(owl, ['serve', model, '--port', '0', '-t', String(threads), ...(chunk ? ['--prefill-chunk', chunk] : []), ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 60000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${log}`)); });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => { child.removeAllListeners('exit'); child.on('exit', resolve); child.kill('SIGTERM'); }),
  };
}

// Streams one request; returns {ttft, gaps, tokens} in milliseconds / token counts.
async function stream(url, path, body) {
  const t0 = performance.now();
  const res = await fetch(url + path, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  const dec = new TextDecoder();
  let buf = '', first = -1, last = -1, tokens = 0, text = '';
  const gaps = [];
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const o = JSON.parse(ev.slice(6));
      if (o.usage) tokens = o.usage.completion_tokens;
      const c = o.choices?.[0];
      const piece = c?.delta?.content ?? c?.text ?? '';
      if (!piece) continue;
      text += piece;
      const now = performance.now();
      if (first < 0) first = now - t0;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ttft: first, gaps, tokens, text };
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');

const words = 'the a cat dog ran over hill under tree with big small red blue house river stone bird sang loud quiet night day old new'.split(' ');
function text(seed, n) {
  let x = seed * 2654435761 % 4294967296;
  const out = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(words[x % words.length]);
  }
  return out.join(' ');
}

const bias = eos >= 0 ? { [eos]: -100 } : undefined;

async function throughput(C) {
  const server = await startServer(['--parallel', String(C)]);
  try {
    // one warm-up request so that the first measured one does not pay for page faults
    await stream(server.url, '/v1/completions', { prompt: 'warm up', max_tokens: 8, temperature: 0, logit_bias: bias });
    const ttfts = [], gaps = [];
    let total = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C }, async (_, c) => {
      for (let r = 0; r < rounds; r++) {
        const s = await stream(server.url, '/v1/completions', {
          prompt: `${c}.${r}: ${text(c * 100 + r, 24)}`, max_tokens: nTokens, temperature: 0, logit_bias: bias,
        });
        ttfts.push(s.ttft);
        gaps.push(...s.gaps);
        total += s.tokens;
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    return { C, tps: total / secs, total, ttft50: pct(ttfts, 50), ttft99: pct(ttfts, 99), itl50: pct(gaps, 50), itl99: pct(gaps, 99) };
  } finally {
    await server.stop();
  }
}

// Turns 2..turns of a chat that starts with ~1k tokens of history; TTFT of each.
async function multiTurn(extra, turns = 4) {
  const server = await startServer(['--parallel', '1', ...extra]);
  try {
    const messages = [{ role: 'system', content: 'You are a helpful assistant.' }];
    for (let i = 0; i < 8; i++) {
      messages.push({ role: 'user', content: text(1000 + i, 60) });
      messages.push({ role: 'assistant', content: text(2000 + i, 60) });
    }
    const ttfts = [];
    let promptTokens = 0;
    for (let t = 0; t < turns; t++) {
      messages.push({ role: 'user', content: text(3000 + t, 20) });
      const s = await stream(server.url, '/v1/chat/completions', { messages, max_tokens: 16, temperature: 0, logit_bias: bias });
      if (t > 0) ttfts.push(s.ttft);
      messages.push({ role: 'assistant', content: s.text });
    }
    // the prompt size of the last turn, from a non-streamed repeat of it
    const res = await fetch(server.url + '/v1/chat/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages, max_tokens: 1 }),
    });
    promptTokens = (await res.json()).usage?.prompt_tokens ?? 0;
    return { ttft50: pct(ttfts, 50), ttfts, promptTokens };
  } finally {
    await server.stop();
  }
}

const best = new Map();
for (let r = 0; r < reps; r++) {
  for (const C of clientCounts) {
    const run = await throughput(C);
    if (!best.has(C) || run.tps > best.get(C).tps) best.set(C, run);
  }
}
const rows = clientCounts.map((C) => best.get(C));
const cached = await multiTurn([]);
const uncached = await multiTurn(['--no-prefix-cache']);

const base = rows.find((r) => r.C === 1)?.tps;
console.log('## Serving');
console.log();
console.log(`\`owl serve\` on ${model.split('/').pop()}, ${threads} threads, --parallel = clients; each client streams ${rounds} completions of ${nTokens} tokens back to back (greedy, end of text banned); best of ${reps} interleaved runs per row. Times in ms.`);
console.log();
console.log('| clients | aggregate tok/s | × one client | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |');
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.C} | ${f1(r.tps)} | ${base ? (r.tps / base).toFixed(2) : '-'} | ${f1(r.ttft50)} | ${f1(r.ttft99)} | ${f1(r.itl50)} | ${f1(r.itl99)} |`);
}
console.log();
console.log(`Multi-turn chat (history of ${cached.promptTokens} prompt tokens at the last turn), time to first token of turns 2-4, median: ` +
  `with the prefix cache ${f1(cached.ttft50)} ms, without (--no-prefix-cache) ${f1(uncached.ttft50)} ms ` +
  `(${(100 * cached.ttft50 / uncached.ttft50).toFixed(0)}%).`);
