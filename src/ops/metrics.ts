// Prometheus metrics (prom-client), one registry per gateway so that several gateways
// in one process (tests) do not mix their figures. Transports update the counters and
// gauges here directly; values that live elsewhere (live sessions) are read at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { LocalHistogram, type HistogramChild } from './local-histogram.js';
import { requestValidations } from '../protocol/schema.js';

export type ErrorKind = 'document' | 'request';
export type ThrottleLimit = 'address' | 'ticket' | 'logonAddress' | 'logonFailures' | 'logonUserAddress';
export type Route = 'logon' | 'command' | 'data' | 'health' | 'metrics' | 'other';

export interface MetricSources {
  sessions(): number;
  /** Open event logs (sessions, plus ended ones still readable). */
  eventLogs(): number;
  /** Events queued and not yet acknowledged, over all sessions. */
  eventsPending(): number;
}

/**
 * One child of a labelled counter (one set of label values) that is counted in a plain
 * number and added to the counter when the metrics are read (a scrape, a test): counting a
 * frame or a request costs an addition instead of prom-client's label hashing and checks
 * (about 80 ns each).
 */
export interface Tally {
  inc(by?: number): void;
}

class TallyCell implements Tally {
  n = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(by = 1): void {
    this.n += by;
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private sources: MetricSources = { sessions: () => 0, eventLogs: () => 0, eventsPending: () => 0 };
  private readonly tallies = new Map<Counter<string>, TallyCell[]>();
  /** WebSocket frames within their socket's budget (the common case), counted as a tally. */
  readonly webSocketFramesWithin: Tally;
  readonly webSocketFramesWaited: Tally;

  readonly heldPolls: Gauge;
  /** Open WebSockets: the WebSocket transport increments and decrements it. */
  readonly webSockets: Gauge;
  /** Frames read from WebSocket clients: within the socket's frame budget, or after waiting for it. */
  readonly webSocketFrames: Counter<'budget'>;
  readonly eventsQueued: Counter;
  readonly eventsDelivered: Counter;
  readonly eventsRedelivered: Counter;
  readonly eventLogOverflows: Counter;
  readonly commandDuration: LocalHistogram<'transport'>;
  readonly errors: Counter<'code' | 'kind'>;
  /** Requests the engine refused (answered requestFailed/requestInvalid), by the reason of its outcome catalogue. */
  readonly refusals: Counter<'reason'>;
  readonly throttled: Counter<'limit'>;
  readonly logons: Counter<'result'>;
  readonly httpRequests: Counter<'route' | 'status'>;
  /** With --store redis://…: commands this node appended to the shared stream, by type. */
  readonly clusterProposed: Counter<'type'>;
  /** Commands this node applied (its own and the other nodes'). */
  readonly clusterApplied: Counter;
  /** Snapshots this node wrote, and the size of the last one. */
  readonly clusterSnapshots: Counter;
  readonly clusterSnapshotBytes: Gauge;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const self = this;
    /** A counter's `collect`: its tallies are added to it before it is read. */
    const collectTallies = function (this: Counter<string>): void {
      self.flushTallies(this);
    };
    new Gauge({
      name: 'cwa_sessions',
      help: 'Live sessions',
      registers,
      collect() {
        this.set(self.sources.sessions());
      },
    });
    new Gauge({
      name: 'cwa_event_logs',
      help: 'Open per-session event logs (live sessions and ended ones still readable)',
      registers,
      collect() {
        this.set(self.sources.eventLogs());
      },
    });
    new Gauge({
      name: 'cwa_events_pending',
      help: 'Events queued and not yet acknowledged by their client, over all sessions',
      registers,
      collect() {
        this.set(self.sources.eventsPending());
      },
    });
    this.heldPolls = new Gauge({ name: 'cwa_held_polls', help: 'Data-channel GETs held open, waiting for an event', registers });
    this.webSockets = new Gauge({ name: 'cwa_websockets', help: 'Open WebSocket connections', registers });
    this.webSocketFrames = new Counter({
      name: 'cwa_websocket_frames_total',
      help: 'Frames read from WebSocket clients; budget "waited" for those that came faster than --ws-frame-rate and waited for it',
      labelNames: ['budget'],
      registers,
      collect: collectTallies,
    });
    this.webSocketFramesWithin = this.tally(this.webSocketFrames, { budget: 'within' });
    this.webSocketFramesWaited = this.tally(this.webSocketFrames, { budget: 'waited' });
    this.eventsQueued = new Counter({ name: 'cwa_events_queued_total', help: 'Events appended to session logs', registers });
    this.eventsDelivered = new Counter({
      name: 'cwa_events_delivered_total',
      help: 'Events sent to a client for the first time',
      registers,
    });
    this.eventsRedelivered = new Counter({
      name: 'cwa_events_redelivered_total',
      help: 'Events sent again because the client did not acknowledge them (a lost answer, a retried poll)',
      registers,
    });
    this.eventLogOverflows = new Counter({
      name: 'cwa_event_log_overflows_total',
      help: 'Sessions ended because their unacknowledged events exceeded the log bound',
      registers,
    });
    this.commandDuration = new LocalHistogram('cwa_command_duration_seconds', 'Time to run one command batch (cwaRequests) and render its answer',
      'transport', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers);
    this.errors = new Counter({
      name: 'cwa_errors_total',
      help: 'error elements answered, by code; kind "document" for a request refused as a whole, "request" for one request of a batch',
      labelNames: ['code', 'kind'],
      registers,
    });
    this.refusals = new Counter({
      name: 'cwa_refusals_total',
      help: 'Requests of command batches answered with a refusal (requestFailed/requestInvalid), by the reason in the engine\'s outcome catalogue (tooManyConversations, invalidInput …)',
      labelNames: ['reason'],
      registers,
    });
    this.throttled = new Counter({
      name: 'cwa_throttled_total',
      help: 'Requests refused with 429 / 18101, by the limit they hit',
      labelNames: ['limit'],
      registers,
    });
    this.logons = new Counter({ name: 'cwa_logons_total', help: 'Logon attempts by result', labelNames: ['result'], registers });
    this.httpRequests = new Counter({
      name: 'cwa_http_requests_total',
      help: 'HTTP requests answered, by endpoint and status',
      labelNames: ['route', 'status'],
      registers,
      collect: collectTallies,
    });
    this.clusterProposed = new Counter({
      name: 'cwa_cluster_commands_proposed_total',
      help: 'Commands this node appended to the shared command stream (with --store redis://…), by type',
      labelNames: ['type'],
      registers,
    });
    this.clusterApplied = new Counter({ name: 'cwa_cluster_commands_applied_total', help: 'Commands of the shared stream this node applied', registers });
    this.clusterSnapshots = new Counter({ name: 'cwa_cluster_snapshots_written_total', help: 'Snapshots of the shared state this node wrote', registers });
    this.clusterSnapshotBytes = new Gauge({ name: 'cwa_cluster_snapshot_bytes', help: 'Size of the last snapshot this node wrote or loaded', registers });
    new Counter({
      name: 'cwa_request_validations_total',
      help: 'Requests checked against cwa-requests.xsd (process-wide), by what decided: "compiled" (the compiled schema found them valid), "libxml2" (the rest); "disagreement" counts requests the compiled schema found invalid and libxml2 valid (libxml2 decides)',
      labelNames: ['by'],
      registers,
      collect() {
        this.reset();
        this.inc({ by: 'compiled' }, requestValidations.compiled);
        this.inc({ by: 'libxml2' }, requestValidations.libxml2);
        this.inc({ by: 'disagreement' }, requestValidations.disagreements);
      },
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry }); // standard names (process_*, nodejs_*): stock Node.js dashboards match
  }

  /** A tally of `counter` (one whose `collect` adds its tallies: webSocketFrames, httpRequests). */
  tally<L extends string>(counter: Counter<L>, labels: Record<L, string>): Tally {
    const cell = new TallyCell(labels);
    const key = counter as unknown as Counter<string>;
    let cells = this.tallies.get(key);
    if (!cells) this.tallies.set(key, (cells = []));
    cells.push(cell);
    return cell;
  }

  private flushTallies(counter: Counter<string>): void {
    for (const cell of this.tallies.get(counter) ?? []) {
      if (cell.n === 0) continue;
      counter.inc(cell.labels, cell.n);
      cell.n = 0;
    }
  }

  /**
   * Times one command batch into `cwa_command_duration_seconds`: call the function it
   * returns when the batch is answered (the transport's child bound once).
   */
  timeCommand(transport: 'http' | 'websocket'): () => void {
    const child = (this.durationBy[transport] ??= this.commandDuration.labels({ transport }));
    const started = performance.now();
    return () => child.observe((performance.now() - started) / 1000);
  }

  private readonly durationBy: { http?: HistogramChild; websocket?: HistogramChild } = {};

  /** Tells the metrics where to read the values that live elsewhere. */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** One sample's value, for tests: `value('cwa_held_polls')`, `value('cwa_errors_total', { code: '18101' })`. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) throw new Error(`no metric ${name}`);
    const { values } = await metric.get();
    let sum = 0;
    for (const v of values) {
      const l = v.labels as Record<string, string | number>;
      if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
    }
    return sum;
  }
}
