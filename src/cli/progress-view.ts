/**
 * Live progress bars on a TTY (cli-progress multi-bar): one line for the whole run (rows, bytes,
 * rate, ETA, tables done) and one line per worker (its current table). Fed with the shared
 * `ProgressEvent` of src/format/progress.ts by dump and restore. When disabled (stderr not a
 * TTY, --no-progress, -q, --json) every method is a no-op, so nothing is written at all.
 */
import { createRequire } from "node:module";
import type cliProgressModule from "cli-progress";
import type { ProgressEvent } from "../format/progress.js";
import { formatBytes } from "./output.js";

/** What the CLI hands an emitter's `onProgress`. */
export interface ProgressView {
  /** A progress event, or a bare step (`{ table, step }`) from an emitter without counts. */
  update(event: ProgressEvent | { table: string; step: string }): void;
  /** Draws the final state and releases the terminal (call before printing the result). */
  stop(): void;
}

const noop: ProgressView = { update: () => {}, stop: () => {} };

interface LineState {
  label: string;
  table: string;
  step: string;
  rows: number;
  bytes: number;
  totalRows: number | undefined;
  started: number;
}

/** `12,345` */
const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** `3s`, `2m05s`, `1h02m` */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** One bar's text after the bar itself: rows (of total), bytes, rate, ETA. */
export function describeCounts(
  rows: number,
  bytes: number,
  totalRows: number | undefined,
  elapsedMs: number,
  finished: boolean,
): string {
  const rate = elapsedMs > 0 ? (rows * 1000) / elapsedMs : 0;
  const parts = [
    totalRows === undefined
      ? `${count(rows)} ${rows === 1 ? "row" : "rows"}`
      : `${count(rows)}/~${count(totalRows)} ${totalRows === 1 ? "row" : "rows"}`,
    formatBytes(bytes),
    `${count(rate)} rows/s`,
  ];
  if (finished) parts.push("done");
  else if (totalRows !== undefined && rate > 0)
    parts.push(`ETA ${formatDuration(Math.max(0, totalRows - rows) / rate)}`);
  else parts.push("ETA ?");
  return parts.join(" | ");
}

/** A view drawing on `stream` when `enabled`, else one that writes nothing. */
export function createProgressView(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressView {
  if (!enabled) return noop;
  const runStarted = Date.now();
  // Required here, only when bars are drawn: a pipe, --json or -q never load it (issue 14).
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof cliProgressModule;
  const bars = new cliProgress.MultiBar(
    {
      stream,
      fps: 8,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 20,
      format: (options, params, payload: { text: string; label: string }) => {
        const bar = cliProgress.Format.BarFormat(params.progress, options);
        return `${payload.label} ${bar} ${String(Math.floor(params.progress * 100)).padStart(3)}% ${payload.text}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  // Created on the first event with counts: an emitter that names steps only gets no total line.
  let overall: cliProgressModule.SingleBar | undefined;
  const workers = new Map<number, { bar: cliProgressModule.SingleBar; state: LineState }>();
  let finishedRows = 0;
  let finishedBytes = 0;
  let tablesDone = 0;
  let tablesTotal = 0;
  let runTotalRows: number | undefined;
  let width = 10;
  let stopped = false;

  const drawOverall = () => {
    let rows = finishedRows;
    let bytes = finishedBytes;
    for (const { state } of workers.values()) {
      rows += state.rows;
      bytes += state.bytes;
    }
    if (!overall) return;
    const finished = tablesTotal > 0 && tablesDone === tablesTotal;
    const total = runTotalRows ?? tablesTotal;
    const value = runTotalRows !== undefined ? Math.min(rows, runTotalRows) : tablesDone;
    overall.setTotal(Math.max(1, total));
    overall.update(finished ? Math.max(1, total) : value, {
      label: "total".padEnd(width),
      text: `${describeCounts(rows, bytes, runTotalRows, Date.now() - runStarted, finished)} | tables ${tablesDone}/${tablesTotal}`,
    });
  };

  const lineOf = (worker: number, label = `worker ${worker + 1}`) => {
    let line = workers.get(worker);
    if (!line) {
      line = {
        bar: bars.create(1, 0, { label, text: "" }),
        state: { label, table: "", step: "", rows: 0, bytes: 0, totalRows: undefined, started: Date.now() },
      };
      workers.set(worker, line);
    }
    return line;
  };

  return {
    update(event) {
      if (stopped) return;
      if (!("rows" in event)) {
        // An emitter that names steps only: show the step, no counts.
        const line = lineOf(0, "restore");
        line.state.step = event.step;
        line.bar.update(0, { label: line.state.label.padEnd(width), text: `${event.table} ${event.step}` });
        return;
      }
      overall ??= bars.create(1, 0, { label: "total", text: "" });
      tablesDone = Math.max(tablesDone, event.tablesDone);
      tablesTotal = event.tablesTotal;
      runTotalRows = event.runTotalRows;
      const line = lineOf(event.worker);
      const s = line.state;
      if (s.table !== event.table) {
        s.table = event.table;
        s.started = Date.now();
      }
      s.rows = event.rows;
      s.bytes = event.bytes;
      s.totalRows = event.totalRows;
      if (event.step !== undefined) s.step = event.step;
      width = Math.max(width, ...[...workers.values()].map((w) => w.state.label.length));
      const total = event.totalRows ?? 0;
      line.bar.setTotal(Math.max(1, total, event.rows));
      line.bar.update(event.finished ? Math.max(1, total, event.rows) : event.rows, {
        label: s.label.padEnd(width),
        text: `${event.table}${s.step ? ` ${s.step}` : ""} | ${describeCounts(event.rows, event.bytes, event.totalRows, Date.now() - s.started, event.finished)}`,
      });
      if (event.finished) {
        finishedRows += event.rows;
        finishedBytes += event.bytes;
        s.rows = 0;
        s.bytes = 0;
      }
      drawOverall();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bars.stop();
    },
  };
}
