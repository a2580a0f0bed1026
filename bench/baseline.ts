// The bare Node `http` baseline: the least any HTTP server on this machine can do for the
// same traffic. A POST is read to the end and answered with a tiny fixed cwaResponses;
// a GET is answered with a tiny cwaEvents at once, or, with `hold=1` in the query,
// held until the connection closes (the idle long-poll of the memory workload).
import http from 'node:http';

const POST_REPLY = '<cwaResponses requestProcessed="1" unexpectedElement="0"><requestAccepted rid="1"/></cwaResponses>';
const GET_REPLY = '<cwaEvents sid="1" ackId="0" pollWaitTime="1000"/>';
const HEADERS = { 'Content-Type': 'text/xml; charset=utf-8', 'Cache-Control': 'no-cache, no-store' };

export function createBaselineServer(): http.Server {
  return http.createServer((req, res) => {
    if (req.method === 'POST') {
      let size = 0;
      req.on('data', (chunk: Buffer) => (size += chunk.length));
      req.on('end', () => {
        res.writeHead(size > 0 ? 200 : 400, HEADERS);
        res.end(POST_REPLY);
      });
      return;
    }
    if (req.url?.includes('hold=1')) return; // held until the client goes away
    res.writeHead(200, HEADERS);
    res.end(GET_REPLY);
  });
}
