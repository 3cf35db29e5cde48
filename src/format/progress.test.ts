import { describe, expect, it } from "vitest";
import { sumKnown, throttleProgress, type ProgressEvent } from "./progress.js";

const ev = (table: string, rows: number, finished = false, worker = 0): ProgressEvent => ({
  phase: "dump",
  table,
  worker,
  rows,
  bytes: rows * 10,
  finished,
  tablesDone: 0,
  tablesTotal: 2,
});

describe("throttleProgress", () => {
  it("passes a table's first and last event and at most one per interval in between", () => {
    let clock = 0;
    const seen: string[] = [];
    const on = throttleProgress<ProgressEvent>(
      (e) => seen.push(`${e.table}:${e.rows}`),
      1000,
      () => clock,
    );
    on(ev("a", 0));
    clock = 250;
    on(ev("a", 10));
    on(ev("b", 0, false, 1));
    clock = 999;
    on(ev("a", 20));
    clock = 1000;
    on(ev("a", 30));
    clock = 1100;
    on(ev("a", 35, true));
    on(ev("b", 5, true, 1));
    expect(seen).toEqual(["a:0", "b:0", "a:30", "a:35", "b:5"]);
  });
});

describe("sumKnown", () => {
  it("is undefined as soon as one value is unknown", () => {
    expect(sumKnown([1, 2])).toBe(3);
    expect(sumKnown([1, undefined])).toBeUndefined();
    expect(sumKnown([])).toBe(0);
  });
});
