// Starts a server for the client tests and stops it again. Until `owl serve` runs a model, the
// target is the test server of tests/unit/test_server_http.c (`--serve`): the real HTTP layer
// with a fake backend that answers "Hello world!".
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export async function startServer(args = []) {
  const build = process.env.OWL_BUILD || 'build';
  const bin = path.resolve(root, build, 'tests/test_server_http');
  const child = spawn(bin, ['--serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 10 s')), 10000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(\d+)\n/);
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
