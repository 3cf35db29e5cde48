import { describe, expect, it } from "vitest";
import { loadOperations } from "../config/operations.js";
import { healthReport, metricsText } from "./health-server.js";
import { initialState } from "./scheduler.js";

const ops = loadOperations(
  {},
  { DATABASE_URL: "postgres://h/shop", PGSNAP_SCHEDULE: "0 3 * * *", PGSNAP_STORAGE: "/b" },
  { requireCron: true },
);
const start = new Date("2026-01-01T12:00:00Z");

describe("health and metrics", () => {
  it("is healthy before the first run and after a success; 503 once overdue or failed", () => {
    const state = initialState(ops, start);
    expect(healthReport(ops, state, start, new Date("2026-01-02T02:00:00Z")).code).toBe(200);
    const st = state.get("default")!;
    st.lastRun = new Date("2026-01-02T03:00:00Z");
    st.lastSuccess = new Date("2026-01-02T03:05:00Z");
    st.lastStatus = "ok";
    expect(healthReport(ops, state, start, new Date("2026-01-03T02:00:00Z")).code).toBe(200);
    // One and a half days later without a success (the 03:00 run of the 3rd never happened).
    const overdue = healthReport(ops, state, start, new Date("2026-01-03T16:00:00Z"));
    expect(overdue.code).toBe(503);
    expect(overdue.body.jobs[0]).toMatchObject({ job: "default", healthy: false, lastStatus: "ok" });
    st.lastStatus = "failed";
    expect(healthReport(ops, state, start, new Date("2026-01-02T04:00:00Z")).code).toBe(503);
  });

  it("prints Prometheus text with job and project labels", () => {
    const state = initialState(ops, start);
    const ps = state.get("default")!.projects.get("shop")!;
    Object.assign(ps, { lastSuccess: new Date("2026-01-02T03:05:00Z"), status: "warning", rows: 42, bytes: 1000 });
    const text = metricsText(state);
    expect(text).toContain('pgsnap_last_success_timestamp_seconds{job="default",project="shop"} 1767323100');
    expect(text).toContain('pgsnap_last_run_status{job="default",project="shop"} 1');
    expect(text).toContain('pgsnap_snapshot_rows{job="default",project="shop"} 42');
    expect(text).toContain('pgsnap_snapshot_bytes{job="default",project="shop"} 1000');
    expect(text).toContain("# TYPE pgsnap_snapshot_rows gauge");
  });
});
