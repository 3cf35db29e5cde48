import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../format/manifest.js";
import { testManifest } from "../../test/helpers/manifest.js";
import { FsStorage } from "../storage/fs/fs-storage.js";
import { findSnapshot, listSnapshots } from "./list-snapshots.js";

const manifest = testManifest;

describe("finding snapshots", () => {
  let dir: string;
  let storage: FsStorage;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pgsnap-find-"));
    storage = new FsStorage(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const put = (m: Manifest) => storage.putBytes(`p/${m.id}/manifest.json`, Buffer.from(JSON.stringify(m)));

  it("latest is the newest data holding the tenant, read from the newest ids only", async () => {
    for (let day = 1; day <= 20; day++) {
      const d = String(day).padStart(2, "0");
      await put(manifest(`202601${d}T030000Z-aaaa`, `2026-01-${d}T03:00:00.400Z`, "tenant", ["7"]));
    }
    // Cut today from the snapshot of the 10th: newest id, older data.
    await put({ ...manifest("20260121T120000Z-bbbb", "2026-01-10T03:00:00.400Z", "tenant", ["8"]) });
    const before = storage.counters.reads;
    const latest7 = await findSnapshot(storage, "p", "latest", { tenant: "7" });
    expect(latest7.id).toBe("20260120T030000Z-aaaa");
    expect(storage.counters.reads - before).toBe(2);
    expect((await findSnapshot(storage, "p", "latest", { tenant: "8" })).id).toBe("20260121T120000Z-bbbb");
    expect((await findSnapshot(storage, "p", "latest")).id).toBe("20260120T030000Z-aaaa");
    await expect(findSnapshot(storage, "p", "latest", { tenant: "9" })).rejects.toMatchObject({
      code: "SNAPSHOT_NONE",
    });
    expect((await listSnapshots(storage, "p")).map((m) => m.id).slice(0, 2)).toEqual([
      "20260120T030000Z-aaaa",
      "20260119T030000Z-aaaa",
    ]);
  });

  it("a damaged manifest is skipped by list and latest, but named by its id", async () => {
    await put(manifest("20260101T030000Z-aaaa", "2026-01-01T03:00:00.000Z", "full", null));
    await storage.putBytes("p/20260102T030000Z-bbbb/manifest.json", Buffer.from("{not json"));
    const skipped: string[] = [];
    expect((await listSnapshots(storage, "p", { onSkip: (k) => skipped.push(k) })).map((m) => m.id)).toEqual([
      "20260101T030000Z-aaaa",
    ]);
    expect(skipped).toEqual(["p/20260102T030000Z-bbbb/manifest.json"]);
    expect((await findSnapshot(storage, "p", "latest")).id).toBe("20260101T030000Z-aaaa");
    await expect(findSnapshot(storage, "p", "20260102T030000Z-bbbb")).rejects.toMatchObject({ exitCode: 12 });
  });
});
