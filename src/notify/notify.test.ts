import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver, createNotifier } from "./notify.js";
import type { JobRun } from "./summary.js";

const run: JobRun = {
  job: "nightly",
  status: "failed",
  startedAt: "2026-01-01T03:00:00.000Z",
  durationMs: 1,
  projects: [],
};
let server: Server;
let url: string;
let hits = 0;

beforeAll(async () => {
  // A receiver that accepts the request and never answers.
  server = createServer(() => void hits++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("delivery", () => {
  it("a webhook that hangs is given up within the bounded time, and reported, not thrown", async () => {
    const n = createNotifier({ type: "webhook", url, name: "hook", on: ["failure"] });
    const events: string[] = [];
    const t0 = Date.now();
    const err = await deliver(n, ["failure"], run, {
      timeoutMs: 800,
      backoffMs: 50,
      log: (_l, e) => events.push(e),
    });
    expect(err).toBeInstanceOf(Error);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(hits).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)).toBe("notify-failed");
  });

  it("the on filter: a success is not sent to a failure-only notifier", async () => {
    const before = hits;
    const n = createNotifier({ type: "webhook", url, name: "hook", on: ["failure"] });
    expect(await deliver(n, ["failure"], { ...run, status: "ok" }, { timeoutMs: 200 })).toBeUndefined();
    expect(hits).toBe(before);
  });
});
