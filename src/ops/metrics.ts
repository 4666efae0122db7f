// Prometheus metrics: request counters and latency histograms kept in memory, data gauges read from the database (SQLite or PostgreSQL) at scrape time.
import type { DataGauges, StatsStore } from "./stats-store";

/** Latency buckets in seconds: API calls sit low, uploads and downloads stretch the top. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Label for requests no route matched: raw paths would make one series per URL a client invents. */
export const UNMATCHED_ROUTE = "(unmatched)";

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Longest a scrape waits for the data gauges (PostgreSQL down or slow): the in-memory metrics are served without them. */
export const DATA_GAUGES_TIMEOUT_MS = 2000;

export interface ScrapeSources {
  /** Where the data gauges are read (sqliteStats or postgresStats); none: no data gauges. */
  stats?: StatsStore;
  /** The group-commit writer's counters (src/db/writer.ts). */
  writes?: { batches: number; writes: number; largest: number };
  version: string;
  commit: string;
}

export interface Metrics {
  /** Records one finished request. `route` is the matched pattern (e.g. /v1/tickets/:id), null when none matched. */
  observeRequest(method: string, route: string | null | undefined, status: number, seconds: number): void;
  /** Bytes of a file just uploaded. */
  addUploadedBytes(n: number): void;
  /** The Prometheus text; never rejects (data gauges that cannot be read in DATA_GAUGES_TIMEOUT_MS are left out). */
  render(sources: ScrapeSources): Promise<string>;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",")}}`;
}

function family(lines: string[], name: string, type: "counter" | "gauge" | "histogram", help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

const startSeconds = Math.floor(Date.now() / 1000);

/** The value, or null when it rejects or takes over DATA_GAUGES_TIMEOUT_MS. */
async function bounded<T extends DataGauges | number>(work: Promise<T>): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(resolve, DATA_GAUGES_TIMEOUT_MS, null);
  });
  try {
    return await Promise.race([work.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function createMetrics(): Metrics {
  const requests = new Map<string, number>();
  const durations = new Map<string, Histogram>();
  let uploadedBytes = 0;

  return {
    observeRequest(method, route, status, seconds) {
      const m = METHODS.has(method) ? method : "OTHER";
      const r = route || UNMATCHED_ROUTE;
      const key = `${m}\t${r}\t${status}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const hKey = `${m}\t${r}`;
      let h = durations.get(hKey);
      if (!h) durations.set(hKey, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
      h.sum += seconds;
      h.count++;
    },
    addUploadedBytes(n) {
      if (n > 0) uploadedBytes += n;
    },
    async render(src) {
      const lines: string[] = [];
      family(lines, "clientcove_http_requests_total", "counter", "HTTP requests answered, by method, route pattern and status.");
      for (const [key, n] of [...requests].sort()) {
        const [method, route, status] = key.split("\t") as [string, string, string];
        lines.push(`clientcove_http_requests_total${labels({ method, route, status })} ${n}`);
      }
      family(lines, "clientcove_http_request_duration_seconds", "histogram", "Time from request start to response, by method and route pattern.");
      for (const [key, h] of [...durations].sort()) {
        const [method, route] = key.split("\t") as [string, string];
        BUCKETS.forEach((le, i) => lines.push(`clientcove_http_request_duration_seconds_bucket${labels({ method, route, le: String(le) })} ${h.counts[i]}`));
        lines.push(`clientcove_http_request_duration_seconds_bucket${labels({ method, route, le: "+Inf" })} ${h.count}`);
        lines.push(`clientcove_http_request_duration_seconds_sum${labels({ method, route })} ${h.sum}`);
        lines.push(`clientcove_http_request_duration_seconds_count${labels({ method, route })} ${h.count}`);
      }
      family(lines, "clientcove_uploaded_bytes_total", "counter", "Bytes of files uploaded since start.");
      lines.push(`clientcove_uploaded_bytes_total ${uploadedBytes}`);

      // The database may be closing (shutdown), unreadable or unreachable: the request counters are still worth serving.
      const data = src.stats ? await bounded(src.stats.dataGauges()) : null;
      if (data) {
        family(lines, "clientcove_webhook_deliveries", "gauge", "Webhook deliveries currently kept (within retention), by status.");
        for (const [status, n] of Object.entries(data.deliveries)) lines.push(`clientcove_webhook_deliveries${labels({ status })} ${n}`);
        family(lines, "clientcove_webhook_deliveries_pending", "gauge", "Webhook deliveries waiting for a (first or next) attempt.");
        lines.push(`clientcove_webhook_deliveries_pending ${data.deliveries.pending}`);
        family(lines, "clientcove_outbox_undispatched_events", "gauge", "Recorded events not yet fanned out to webhook deliveries.");
        lines.push(`clientcove_outbox_undispatched_events ${data.undispatchedEvents}`);
        family(lines, "clientcove_stored_files", "gauge", "Files stored, all organizations.");
        lines.push(`clientcove_stored_files ${data.storedFiles}`);
        family(lines, "clientcove_stored_bytes", "gauge", "Bytes of all stored (uploaded) files.");
        lines.push(`clientcove_stored_bytes ${data.storedBytes}`);
      }
      if (src.writes) {
        family(lines, "clientcove_db_write_batches_total", "counter", "Transactions (one fsync each) the group-commit writer committed.");
        lines.push(`clientcove_db_write_batches_total ${src.writes.batches}`);
        family(
          lines,
          "clientcove_db_writes_total",
          "counter",
          "Writes committed through the group-commit writer; divided by the batches, the mean batch size.",
        );
        lines.push(`clientcove_db_writes_total ${src.writes.writes}`);
        family(lines, "clientcove_db_write_batch_largest", "gauge", "The most writes committed in one batch since start.");
        lines.push(`clientcove_db_write_batch_largest ${src.writes.largest}`);
      }
      // Without the other gauges, the size alone when it can be had (SQLite: a stat of the files, even while closing).
      const dbBytes = data ? data.databaseBytes : src.stats ? await bounded(src.stats.databaseBytes()) : null;
      if (dbBytes !== null) {
        family(
          lines,
          "clientcove_database_size_bytes",
          "gauge",
          "Size of the database: the SQLite file with its write-ahead log, or PostgreSQL's pg_database_size(current_database()).",
        );
        lines.push(`clientcove_database_size_bytes ${dbBytes}`);
      }
      family(lines, "clientcove_build_info", "gauge", "Always 1; the labels say which build is running.");
      lines.push(`clientcove_build_info${labels({ version: src.version, commit: src.commit })} 1`);
      family(lines, "process_resident_memory_bytes", "gauge", "Resident memory of this process.");
      lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
      family(lines, "process_start_time_seconds", "gauge", "Start time of this process since the Unix epoch, in seconds.");
      lines.push(`process_start_time_seconds ${startSeconds}`);
      return lines.join("\n") + "\n";
    },
  };
}
