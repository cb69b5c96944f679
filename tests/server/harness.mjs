// Starts a server for the client tests and stops it again. Until `owl serve` runs a model, the
// target is the test server of tests/unit/test_server_http.c (`--serve`): the real HTTP layer
// with a fake backend that answers "Hello world!".
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export const shared = path.resolve(root, process.env.OWL_SHARED || '../shared');

// `owl serve MODEL ...` on a free port; the port is read from its "listening on" line.
export function startOwl(args = []) {
  const build = process.env.OWL_BUILD || 'build';
  return launch(path.resolve(root, build, 'owl'), ['serve', '--port', '0', ...args], true);
}

export function startServer(args = []) {
  const build = process.env.OWL_BUILD || 'build';
  return launch(path.resolve(root, build, 'tests/test_server_http'), ['--serve', ...args], false);
}

async function launch(bin, argv, portOnStderr) {
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 10 s')), 10000);
    let out = '';
    child.stderr.on('data', (d) => {
      log += d;
      // the whole number: a chunk may end in the middle of the port
      const m = portOnStderr && log.match(/listening on http:\/\/[^:]+:(\d+)\D/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.stdout.on('data', (d) => {
      out += d;
      const m = !portOnStderr && out.match(/^(\d+)\n/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${log}`)); });
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    // SIGTERM must end it with status 0 within a few seconds.
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      const [code, signal] = await once(child, 'exit');
      clearTimeout(timer);
      return { code, signal };
    },
  };
}
