// Memory lanes of bench/run.sh that wrk cannot drive, over raw sockets (streams one at a time are
// timed by bench/stream_probe.cpp):
//   concurrent URL CREDENTIAL COUNT  COUNT streamed chat calls at once -> "completed failed"
//   idle URL COUNT PID  opens COUNT keep-alive connections, each makes one GET /health and stays
//       open; once all are held, -> "held rss_kb" (PID's VmRSS), then closes them
import net from 'node:net';
import fs from 'node:fs';

const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Summarise the following paragraph in one sentence, please, and keep the names.' }],
  max_tokens: 256,
  stream: true,
});

function chatRequest(url, credential) {
  return `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${credential}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.once('error', reject);
  });
}

// One streamed call on `socket`: resolves the whole answer's text, or rejects on a non-200 answer
// or a closed connection.
function streamOnce(socket, request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let tail = '';
    let checkedStatus = false;
    const onData = (data) => {
      chunks.push(data);
      const text = tail + data.toString('latin1');
      if (!checkedStatus && text.length >= 12) {
        checkedStatus = true;
        if (!text.startsWith('HTTP/1.1 200')) return done(new Error(`answer: ${text.slice(0, 300)}`));
      }
      if (text.endsWith('\r\n0\r\n\r\n')) return done(null);
      tail = text.slice(-16);
    };
    const onClose = () => done(new Error('connection closed mid-answer'));
    const done = (error) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) return reject(error);
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(request);
  });
}

async function concurrent(url, credential, count) {
  const request = chatRequest(url, credential);
  const results = await Promise.allSettled(Array.from({ length: count }, async () => {
    const socket = await connect(url);
    try {
      const text = await streamOnce(socket, request);
      if (!text.includes('data: [DONE]')) throw new Error('stream ended without [DONE]');
    } finally {
      socket.destroy();
    }
  }));
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) console.error(`${failed.length} streams failed, e.g. ${failed[0].reason}`);
  return `${count - failed.length} ${failed.length}`;
}

function healthOnce(socket, url) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data) => {
      text += data.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: *(\d+)/i.exec(text);
      if (head >= 0 && length && text.length >= head + 4 + Number(length[1])) {
        socket.off('data', onData);
        if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(text.slice(0, 200)));
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed')));
    socket.write(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
  });
}

async function idle(url, count, pid) {
  const sockets = [];
  const batch = 500;  // under the listen backlog
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async () => {
      const socket = await connect(url);
      await healthOnce(socket, url);
      return socket;
    }));
    sockets.push(...opened);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const alive = sockets.filter((s) => !s.destroyed).length;
  const rss = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
  for (const s of sockets) s.destroy();
  return `${alive} ${rss}`;
}

const [mode, target, ...rest] = process.argv.slice(2);
const url = new URL(target);
let out;
if (mode === 'concurrent') out = await concurrent(url, rest[0], Number(rest[1]));
else if (mode === 'idle') out = await idle(url, Number(rest[0]), Number(rest[1]));
else throw new Error(`unknown mode ${mode}`);
console.log(out);
