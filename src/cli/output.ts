/** Human and JSON output. With --json exactly one JSON document goes to stdout; logs to stderr. */
import { redactSecrets } from "../errors.js";
import { createProgressView, type ProgressView } from "./progress-view.js";

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  progress: boolean;
  secrets: string[];
}

export class Output {
  constructor(readonly options: OutputOptions) {}

  #clean(text: string): string {
    return redactSecrets(text, this.options.secrets);
  }

  /** The command's result: JSON on stdout with --json, else the human text. */
  result(doc: unknown, human: () => string): void {
    if (this.options.json) process.stdout.write(this.#clean(JSON.stringify(doc, null, 2)) + "\n");
    else if (!this.options.quiet) {
      const text = human();
      if (text) process.stdout.write(this.#clean(text) + (text.endsWith("\n") ? "" : "\n"));
    }
  }

  /** A log line on stderr (suppressed by --quiet). */
  info(text: string): void {
    if (!this.options.quiet) process.stderr.write(this.#clean(text) + "\n");
  }

  /** A detail line on stderr, only with --verbose. */
  debug(text: string): void {
    if (this.options.verbose) process.stderr.write(this.#clean(text) + "\n");
  }

  /** Live progress bars on stderr (src/cli/progress-view.ts); a silent view when progress is off. */
  progressView(): ProgressView {
    return createProgressView(this.options.progress && !this.options.quiet && !this.options.json);
  }

  /** A one-line progress message on a TTY (silent when progress is off). */
  progress(text: string): void {
    if (this.options.progress && !this.options.quiet && !this.options.json && process.stderr.isTTY) {
      process.stderr.write("\r\x1b[K" + this.#clean(text));
    }
  }

  /** Ends a TTY progress line. */
  progressDone(): void {
    if (this.options.progress && !this.options.quiet && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  }
}

/** `1 row`, `2 rows`, `0 rows`: a count with its noun (plural by adding s). */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** `12.3 MB` style sizes: the one formatter, shared with the notifications (notify may not import cli). */
export { formatSize as formatBytes } from "../notify/summary.js";

/** Renders rows as an aligned text table. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * Thrown by a command that has already printed its result (a JSON document or a report naming
 * the problems) and only needs the process to exit with `exitCode`; main.ts prints nothing more.
 */
export class ExitWith extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
