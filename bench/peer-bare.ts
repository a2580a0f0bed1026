// Bare Node under the peer-bench driver's idle mode: just enough of the CWA door for the
// driver's `cwa` and `cwa-ws` clients to sign in, start a session and stay idle — a logon
// answered with a ticket, `initiateSession` with a sid, a data-channel GET held for 25 s (as
// the gateway's --hold-ms) and answered empty, or a WebSocket (the `ws` library, as the
// gateway uses, no compression) left open; every other command answered with an empty
// `cwaResponses`. No parsing, no state beyond the held request or socket: the RSS per idle
// session it shows under the same driver is what Node's own HTTP connection, held request
// or WebSocket costs, the floor under the gateway's figure.
//   node dist/bench/peer-bare.js PORT
import http from 'node:http';
import { WebSocketServer } from 'ws';

const HOLD_MS = 25_000;
const port = Number(process.argv[2]);
let sids = 0;
let tickets = 0;

const xml = (res: http.ServerResponse, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
};

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = req.url ?? '';
    if (url === '/readyz') return xml(res, '<ok/>');
    // A ticket about as long as the gateway's.
    if (url.startsWith('/forms/logon.html')) return xml(res, '<cwaResponses/>', { 'CWA-Ticket': `bare.${++tickets}.${'t'.repeat(100)}` });
    if (url.startsWith('/cwa/MainCommandHandler.ashx')) {
      const body = Buffer.concat(chunks).toString('utf8');
      if (body.includes('<initiateSession')) return xml(res, `<cwaResponses><requestSucceeded rid="1"><sid>${++sids}</sid></requestSucceeded></cwaResponses>`);
      return xml(res, '<cwaResponses/>');
    }
    if (url.startsWith('/cwa/AsyncDataChannel.ashx')) {
      const timer = setTimeout(() => xml(res, '<cwaEvents ackId="0"/>'), HOLD_MS);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    res.writeHead(404).end();
  });
});
server.keepAliveTimeout = 5000; // the gateway's default

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => {
      if (String(data).startsWith('<cwaRequests')) ws.send('<cwaResponses/>');
    });
  });
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
