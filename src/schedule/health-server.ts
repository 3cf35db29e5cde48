/**
 * `--health-port`: `GET /healthz` (200 while every job succeeded within its expected interval,
 * 503 when one is overdue or its last run failed) and `GET /metrics` (Prometheus text format
 * 0.0.4). Nothing else is served.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Operations } from "../config/operations.js";
import { jobHealthy, type JobState } from "./scheduler.js";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** The /healthz document and its status code. */
export function healthReport(
  ops: Operations,
  state: ReadonlyMap<string, JobState>,
  startedAt: Date,
  now: Date,
): { code: number; body: { status: "ok" | "failing"; jobs: Record<string, unknown>[] } } {
  let healthy = true;
  const jobs = ops.jobs.map((job) => {
    const st = state.get(job.name);
    const ok = st ? jobHealthy(job, st, startedAt, now) : true;
    healthy &&= ok;
    return {
      job: job.name,
      lastRun: st?.lastRun?.toISOString() ?? null,
      lastStatus: st?.lastStatus ?? null,
      lastSuccess: st?.lastSuccess?.toISOString() ?? null,
      nextRun: st?.nextRun?.toISOString() ?? null,
      running: st?.running ?? false,
      healthy: ok,
    };
  });
  return { code: healthy ? 200 : 503, body: { status: healthy ? "ok" : "failing", jobs } };
}

const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const statusValue = { ok: 0, warning: 1, failed: 2 } as const;

/** The /metrics text: per (job, project) last success, last status, rows and bytes. */
export function metricsText(state: ReadonlyMap<string, JobState>): string {
  const series: Record<string, string[]> = {
    pgsnap_last_success_timestamp_seconds: [],
    pgsnap_last_run_status: [],
    pgsnap_snapshot_rows: [],
    pgsnap_snapshot_bytes: [],
  };
  for (const st of state.values()) {
    for (const [project, ps] of st.projects) {
      const l = `{job="${label(st.job)}",project="${label(project)}"}`;
      if (ps.lastSuccess)
        series["pgsnap_last_success_timestamp_seconds"]!.push(`${l} ${ps.lastSuccess.getTime() / 1000}`);
      if (ps.status) series["pgsnap_last_run_status"]!.push(`${l} ${statusValue[ps.status]}`);
      if (ps.lastSuccess) {
        series["pgsnap_snapshot_rows"]!.push(`${l} ${ps.rows}`);
        series["pgsnap_snapshot_bytes"]!.push(`${l} ${ps.bytes}`);
      }
    }
  }
  const help: Record<string, string> = {
    pgsnap_last_success_timestamp_seconds: "Unix time of the last successful run (ok or warning)",
    pgsnap_last_run_status: "Status of the last run: 0 ok, 1 warning, 2 failed",
    pgsnap_snapshot_rows: "Rows in the snapshots of the last successful run",
    pgsnap_snapshot_bytes: "Stored bytes of the snapshots of the last successful run",
  };
  return (
    Object.entries(series)
      .map(([name, lines]) =>
        [`# HELP ${name} ${help[name]}`, `# TYPE ${name} gauge`, ...lines.map((l) => name + l)].join("\n"),
      )
      .join("\n") + "\n"
  );
}

/** Serves /healthz and /metrics on `host:port` (port 0: any free port). */
export async function startHealthServer(options: {
  port: number;
  host: string;
  ops: Operations;
  state: ReadonlyMap<string, JobState>;
  startedAt: Date;
  now?: (() => Date) | undefined;
}): Promise<HealthServer> {
  const now = options.now ?? (() => new Date());
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") {
      const { code, body } = healthReport(options.ops, options.state, options.startedAt, now());
      res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body) + "\n");
    } else if (path === "/metrics") {
      res
        .writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
        .end(metricsText(options.state));
    } else res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([err]) => {
      throw err;
    }),
  ]);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
