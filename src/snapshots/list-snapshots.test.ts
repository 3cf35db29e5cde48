import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../format/manifest.js";
import { testManifest } from "../../test/helpers/manifest.js";
import { FsStorage } from "../storage/fs/fs-storage.js";
import { findSnapshot, listSnapshots, type LatestChoice } from "./list-snapshots.js";

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

  it("names a newer snapshot it passed over even when that one's id sorts lower (same second)", async () => {
    // Two snapshots of one second: their ids differ only in the random suffix.
    await put(manifest("20260101T030000Z-ffff", "2026-01-01T03:00:00.100Z", "tenant", ["7"]));
    await put({ ...manifest("20260101T030000Z-0000", "2026-01-01T03:00:00.800Z", "tenant", ["7"]), rows: 0 });
    let choice: LatestChoice | undefined;
    const m = await findSnapshot(storage, "p", "latest", { tenant: "7", onChoice: (c) => (choice = c) });
    expect(m.id).toBe("20260101T030000Z-ffff");
    expect(choice?.reason).toContain("skipped newer 20260101T030000Z-0000 (");
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

  const table = (id: string): Manifest["tables"][number] => ({
    table: id,
    schema: id.split(".")[0]!,
    name: id.split(".")[1]!,
    scope: "direct",
    filter: null,
    object: `${id}.ndjson.zst`,
    columns: [],
    rows: 1,
    bytes: 1,
    storedBytes: 1,
    sha256: "",
  });

  it("latest skips partial, empty and tenant-less snapshots and says why", async () => {
    const whole = { ...manifest("20260101T030000Z-aaaa", "2026-01-01T03:00:00.000Z", "tenant", ["7"]) };
    whole.tables = [table("public.a"), table("public.b")];
    const partial = { ...manifest("20260102T030000Z-aaaa", "2026-01-02T03:00:00.000Z", "tenant", ["7"]) };
    partial.tables = [table("public.a")];
    partial.partial = true;
    const empty = { ...manifest("20260103T030000Z-aaaa", "2026-01-03T03:00:00.000Z", "tenant", ["7"]), rows: 0 };
    empty.tables = [table("public.a"), table("public.b")];
    const other = { ...manifest("20260104T030000Z-aaaa", "2026-01-04T03:00:00.000Z", "tenant", ["8"]) };
    other.tables = [table("public.a"), table("public.b")];
    for (const m of [whole, partial, empty, other]) await put(m);

    const choices: LatestChoice[] = [];
    const onChoice = (c: LatestChoice) => choices.push(c);
    expect((await findSnapshot(storage, "p", "latest", { tenant: "7", onChoice })).id).toBe(whole.id);
    expect(choices[0]!.skipped).toEqual([
      { id: other.id, reason: "it does not hold tenant 7" },
      { id: empty.id, reason: "it holds no rows" },
      { id: partial.id, reason: "it is a partial dump (--tables/--exclude-tables)" },
    ]);
    expect(choices[0]!.reason).toContain(`latest is ${whole.id}`);
    expect(choices[0]!.reason).toContain(`${partial.id} (it is a partial dump`);
    // A request for only public.a can be served by the partial dump; one for public.b cannot.
    expect((await findSnapshot(storage, "p", "latest", { tenant: "7", tables: ["public.a"] })).id).toBe(partial.id);
    expect((await findSnapshot(storage, "p", "latest", { tenant: "7", tables: ["b"] })).id).toBe(whole.id);
    expect(
      (await findSnapshot(storage, "p", "latest", { tenant: "8", tables: ["public.c"] }).catch((e) => e)).message,
    ).toContain("lacks table public.c");
    // list --tenant shows only the snapshots that hold the tenant.
    expect((await listSnapshots(storage, "p", { tenant: "8" })).map((m) => m.id)).toEqual([other.id]);
  });
});
