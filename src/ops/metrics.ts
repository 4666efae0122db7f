// Prometheus metrics: request counters and latency histograms kept in memory, data gauges read from SQLite at scrape time.
import type { Database } from "bun:sqlite";
import { databaseBytes, deliveriesByStatus } from "./stats-store";

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

export interface ScrapeSources {
  sqlite: Database;
  /** Path of the database file (its size, with the WAL, is reported). */
  dbPath: string;
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
  render(sources: ScrapeSources): string;
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
    render(src) {
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

      try {
        const deliveries = deliveriesByStatus(src.sqlite);
        family(lines, "clientcove_webhook_deliveries", "gauge", "Webhook deliveries currently kept (within retention), by status.");
        for (const [status, n] of Object.entries(deliveries)) lines.push(`clientcove_webhook_deliveries${labels({ status })} ${n}`);
        family(lines, "clientcove_webhook_deliveries_pending", "gauge", "Webhook deliveries waiting for a (first or next) attempt.");
        lines.push(`clientcove_webhook_deliveries_pending ${deliveries.pending}`);
        const undispatched = (src.sqlite.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number }).n;
        family(lines, "clientcove_outbox_undispatched_events", "gauge", "Recorded events not yet fanned out to webhook deliveries.");
        lines.push(`clientcove_outbox_undispatched_events ${undispatched}`);
        const files = src.sqlite.query("SELECT COUNT(*) AS n, COALESCE(SUM(size_bytes), 0) AS bytes FROM files").get() as { n: number; bytes: number };
        family(lines, "clientcove_stored_files", "gauge", "Files stored, all organizations.");
        lines.push(`clientcove_stored_files ${files.n}`);
        family(lines, "clientcove_stored_bytes", "gauge", "Bytes of all stored (uploaded) files.");
        lines.push(`clientcove_stored_bytes ${files.bytes}`);
      } catch {
        // The database is closing (shutdown) or unreadable: the request counters above are still worth serving.
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
      family(lines, "clientcove_database_size_bytes", "gauge", "Size of the SQLite database on disk, including its write-ahead log.");
      lines.push(`clientcove_database_size_bytes ${databaseBytes(src.dbPath)}`);
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
