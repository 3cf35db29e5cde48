import { describe, expect, it } from "vitest";
import { nextRuns, previousRun } from "./cron.js";

const iso = (d: Date[]) => d.map((x) => x.toISOString());

describe("cron next runs in a time zone", () => {
  it("0 3 * * * in America/Sao_Paulo is 06:00 UTC (no DST since 2019)", () => {
    expect(iso(nextRuns("0 3 * * *", "America/Sao_Paulo", new Date("2026-03-01T05:59:59Z"), 3))).toEqual([
      "2026-03-01T06:00:00.000Z",
      "2026-03-02T06:00:00.000Z",
      "2026-03-03T06:00:00.000Z",
    ]);
    // Just after a run: the next is tomorrow's.
    expect(iso(nextRuns("0 3 * * *", "America/Sao_Paulo", new Date("2026-03-01T06:00:00Z"), 1))).toEqual([
      "2026-03-02T06:00:00.000Z",
    ]);
  });

  it("keeps local wall time across the Europe/Berlin DST changes", () => {
    // Spring forward on 2026-03-29 (CET → CEST): 03:30 local moves from 02:30Z to 01:30Z.
    expect(iso(nextRuns("30 3 * * *", "Europe/Berlin", new Date("2026-03-28T00:00:00Z"), 2))).toEqual([
      "2026-03-28T02:30:00.000Z",
      "2026-03-29T01:30:00.000Z",
    ]);
    // Fall back on 2026-10-25: 03:30 local from 01:30Z to 02:30Z.
    expect(iso(nextRuns("30 3 * * *", "Europe/Berlin", new Date("2026-10-24T00:00:00Z"), 2))).toEqual([
      "2026-10-24T01:30:00.000Z",
      "2026-10-25T02:30:00.000Z",
    ]);
  });

  it("supports six fields (seconds first) and finds the previous tick", () => {
    expect(iso(nextRuns("*/20 * * * * *", "UTC", new Date("2026-01-01T00:00:05Z"), 3))).toEqual([
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
    expect(previousRun("0 3 * * *", "UTC", new Date("2026-01-02T03:00:00Z"))?.toISOString()).toBe(
      "2026-01-02T03:00:00.000Z",
    );
  });
});
