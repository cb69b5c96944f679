// A loopback HTTP file server for the pull tests (tests/cli/store.sh). It serves the files of one
// folder under several behaviours, picked by the first path segment:
//   /files/NAME     Range support (206), a strong ETag that is the file's SHA-256
//   /norange/NAME   ignores Range: always 200 and the whole file
//   /cut/NAME       without Range: announces the whole length, sends half, then drops the
//                   connection; with Range: a normal 206 (so a second pull resumes and completes),
//                   unless an If-Range names another version (then 200 and cut again)
//   /corrupt/NAME   the file with one byte changed (and no ETag)
//   /badetag/NAME   the file, with an ETag of the wrong SHA-256
//   /hf/NAME        a 302 to /files/NAME carrying X-Linked-Etag, as Hugging Face does
//   /huge/NAME      claims a petabyte, to meet the free-space check
//   /slow/NAME      the file in 16 KiB pieces, one every 50 ms
//   /private/NAME   401 unless "Authorization: Bearer owl-test-token", then as /files
// Anything else is 404. Prints the port on stdout; appends "METHOD PATH RANGE" per request to
// the log file given as the second argument.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const [dir, logFile] = process.argv.slice(2);
const log = (line) => { if (logFile) fs.appendFileSync(logFile, line + '\n'); };

const server = http.createServer((req, res) => {
  const range = req.headers.range || '-';
  const ifRange = req.headers['if-range'];
  log(`${req.method} ${req.url} ${range}${ifRange ? ` if-range=${ifRange}` : ''}`);
  const m = req.url.match(/^\/([a-z]+)\/([^/?]+)$/);
  const file = m && path.join(dir, decodeURIComponent(m[2]));
  if (!m || !fs.existsSync(file)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  if (m[1] === 'private' && req.headers.authorization !== 'Bearer owl-test-token') {
    res.writeHead(401, { 'Content-Type': 'text/plain' });
    res.end('unauthorized\n');
    return;
  }
  let data = fs.readFileSync(file);
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  const mode = m[1];
  if (mode === 'hf') {
    res.writeHead(302, { Location: `/files/${m[2]}`, 'X-Linked-Etag': `"${sha}"` });
    res.end();
    return;
  }
  if (mode === 'huge') {
    res.writeHead(200, { 'Content-Length': String(1e15) });
    res.write(data.subarray(0, 1024));
    setTimeout(() => res.destroy(), 200);
    return;
  }
  if (mode === 'corrupt') {
    data = Buffer.from(data);
    data[data.length >> 1] ^= 0xff;
  }
  const headers = { 'Content-Type': 'application/octet-stream' };
  if (mode === 'files' || mode === 'cut' || mode === 'private') headers.ETag = `"${sha}"`;
  if (mode === 'badetag') headers.ETag = `"${'0'.repeat(64)}"`;
  if (mode !== 'norange') headers['Accept-Ranges'] = 'bytes';
  const r = range.match(/^bytes=(\d+)-$/);
  const sameVersion = !ifRange || ifRange === `"${sha}"`;
  if (r && mode !== 'norange' && sameVersion) {
    const start = Number(r[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
      res.end();
      return;
    }
    headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    headers['Content-Length'] = String(data.length - start);
    res.writeHead(206, headers);
    res.end(data.subarray(start));
    return;
  }
  headers['Content-Length'] = String(data.length);
  res.writeHead(200, headers);
  if (mode === 'slow') {
    let at = 0;
    const timer = setInterval(() => {
      if (at >= data.length || res.destroyed) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(data.subarray(at, at + 16384));
      at += 16384;
    }, 50);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (mode === 'cut') {
    res.write(data.subarray(0, data.length >> 1), () => setTimeout(() => res.destroy(), 100));
    return;
  }
  res.end(data);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
