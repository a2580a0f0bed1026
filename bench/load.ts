// autocannon driving one POST path with a body rebuilt per request (so every command
// carries a fresh rid); the same function drives the gateway and the bare baseline.
import autocannon from 'autocannon';

export interface LoadResult {
  reqPerSec: number;
  p50: number;
  p99: number;
  completed: number;
  /** Non-2xx answers, socket errors and timeouts together. */
  failures: number;
}

export interface LoadSpec {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: () => string;
  connections: number;
  durationS: number;
}

export async function postLoad(spec: LoadSpec): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${spec.port}`,
    connections: spec.connections,
    duration: spec.durationS,
    requests: [
      {
        method: 'POST',
        path: spec.path,
        headers: { 'content-type': 'text/xml; charset=utf-8', ...spec.headers },
        setupRequest: (req) => ({ ...req, body: spec.body() }),
      },
    ],
  });
  return {
    reqPerSec: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    completed: result['2xx'],
    failures: result.non2xx + result.errors + result.timeouts,
  };
}
