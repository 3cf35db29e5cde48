import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../format/manifest.js";
import { testManifest } from "../../test/helpers/manifest.js";
import { FsStorage } from "../storage/fs/fs-storage.js";
import { applyPolicy, prune } from "./prune.js";

const manifest = testManifest;

/** Snapshots every 6 hours over 70 days, newest first. */
function series(): Manifest[] {
  const out: Manifest[] = [];
  const end = Date.UTC(2026, 2, 31, 18);
  for (let i = 0; i < 70 * 4; i++) {
    const d = new Date(end - i * 6 * 3_600_000);
    const id =
      d
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z") +
      "-" +
      (1000 + i).toString(16).slice(-4);
    out.push(manifest(id, d.toISOString()));
  }
  return out;
}

describe("applyPolicy", () => {
  it("keeps the n newest with keep-last", () => {
    const s = series();
    expect([...applyPolicy(s, { keepLast: 3 }).keys()]).toEqual(s.slice(0, 3).map((m) => m.id));
  });
  it("keeps the newest snapshot of each of the last n days, weeks and months", () => {
    const s = series();
    const keep = applyPolicy(s, { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 });
    const daily = [...keep].filter(([, r]) => r.includes("daily")).map(([id]) => id);
    expect(daily).toHaveLength(7);
    const days = daily.map((id) => s.find((m) => m.id === id)!.createdAt.slice(0, 10));
    expect(new Set(days).size).toBe(7);
    expect(days[0]).toBe("2026-03-31");
    for (const id of daily) expect(s.find((m) => m.id === id)!.createdAt.slice(11, 13)).toBe("18");
    const monthly = [...keep]
      .filter(([, r]) => r.includes("monthly"))
      .map(([id]) => s.find((m) => m.id === id)!.createdAt.slice(0, 7));
    expect(monthly).toEqual(["2026-03", "2026-02", "2026-01"]);
    expect([...keep].filter(([, r]) => r.includes("weekly"))).toHaveLength(4);
    expect(keep.size).toBeLessThan(7 + 4 + 3 + 1);
  });
});

describe("prune on a storage", () => {
  let dir: string;
  let storage: FsStorage;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "pgsnap-prune-"));
    storage = new FsStorage(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(m: Manifest, verified = false) {
    await storage.put(`p/${m.id}/public.t.ndjson.zst`, Readable.from([Buffer.from("data")]));
    await storage.putBytes(`p/${m.id}/manifest.json`, Buffer.from(JSON.stringify(m)));
    if (verified) await storage.putBytes(`p/${m.id}/verified.json`, Buffer.from("{}"));
  }

  it("refuses without a policy", async () => {
    await expect(prune({ storage })).rejects.toMatchObject({ exitCode: 2 });
  });

  it("deletes manifest and data of pruned snapshots, never the newest verified one, per series", async () => {
    const a = manifest("20260101T000000Z-aaaa", "2026-01-01T00:00:00.000Z");
    const b = manifest("20260102T000000Z-bbbb", "2026-01-02T00:00:00.000Z");
    const c = manifest("20260103T000000Z-cccc", "2026-01-03T00:00:00.000Z");
    const t = manifest("20260101T000000Z-dddd", "2026-01-01T00:00:00.000Z", "tenant", ["7"]);
    await write(a, true);
    await write(b);
    await write(c);
    await write(t);
    const dry = await prune({ storage, keepLast: 1, dryRun: true });
    expect(dry.deleted.map((d) => d.id)).toEqual([b.id]);
    expect((await storage.list("p/")).length).toBe(4 * 2 + 1);
    const real = await prune({ storage, keepLast: 1 });
    expect(real.deleted.map((d) => d.id)).toEqual([b.id]);
    expect(real.kept.find((k) => k.id === a.id)!.reasons).toEqual(["newest verified"]);
    expect(real.kept.find((k) => k.id === t.id)!.reasons).toEqual(["last"]);
    expect((await storage.list(`p/${b.id}/`)).length).toBe(0);
    expect((await storage.list(`p/${c.id}/`)).length).toBe(2);
  });

  it("removes data of runs that never wrote a manifest once old enough", async () => {
    const kept = manifest("20260103T000000Z-cccc", "2026-01-03T00:00:00.000Z");
    await write(kept);
    await storage.put("p/20260101T000000Z-0001/public.t.ndjson.zst", Readable.from([Buffer.from("half")]));
    const old = new Date("2026-01-01T00:00:00Z");
    await utimes(join(dir, "p/20260101T000000Z-0001/public.t.ndjson.zst"), old, old);
    const recentId =
      new Date()
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z") + "-0002";
    await storage.put(`p/${recentId}/public.t.ndjson.zst`, Readable.from([Buffer.from("running")]));
    const r = await prune({ storage, keepLast: 5 });
    expect(r.orphans).toEqual(["p/20260101T000000Z-0001/"]);
    expect(await storage.stat("p/20260101T000000Z-0001/public.t.ndjson.zst")).toBeUndefined();
    expect(await storage.stat(`p/${recentId}/public.t.ndjson.zst`)).toBeDefined();
    const r2 = await prune({ storage, keepLast: 5, orphanAgeMs: 0 });
    expect(r2.orphans).toEqual([`p/${recentId}/`]);
    expect(await storage.stat(`p/${kept.id}/manifest.json`)).toBeDefined();
  });

  it("keeps the newest verified snapshot of each series: another tenant's never stands in", async () => {
    const old7 = manifest("20260101T000000Z-0007", "2026-01-01T00:00:00.000Z", "tenant", ["7"]);
    const new7 = manifest("20260102T000000Z-0007", "2026-01-02T00:00:00.000Z", "tenant", ["7"]);
    const only8 = manifest("20260103T000000Z-0008", "2026-01-03T00:00:00.000Z", "tenant", ["8"]);
    const full = manifest("20260104T000000Z-ffff", "2026-01-04T00:00:00.000Z");
    await write(old7, true); // the only good snapshot of tenant 7
    await write(new7); // newer, never verified (say, corrupted)
    await write(only8, true);
    await write(full, true);
    const r = await prune({ storage, keepLast: 1 });
    expect(r.deleted).toEqual([]);
    expect(r.kept.find((k) => k.id === old7.id)!.reasons).toEqual(["newest verified"]);
    expect(r.kept.find((k) => k.id === new7.id)!.reasons).toEqual(["last"]);
    expect(await storage.stat(`p/${old7.id}/manifest.json`)).toBeDefined();
  });

  it("leaves no empty directories behind, and --dry-run reports exactly what the real run removes", async () => {
    const old = new Date("2026-01-01T00:00:00Z");
    const a = manifest("20260101T000000Z-aaaa", "2026-01-01T00:00:00.000Z");
    const b = manifest("20260102T000000Z-bbbb", "2026-01-02T00:00:00.000Z");
    await write(a);
    await write(b, true);
    // A run killed mid-write: only a temp file in its directory.
    const killed = join(dir, "p", "20260101T010000Z-0001");
    await mkdir(killed, { recursive: true });
    await writeFile(join(killed, ".public.t.ndjson.zst.tmp-0123456789ab"), "half");
    await utimes(join(killed, ".public.t.ndjson.zst.tmp-0123456789ab"), old, old);
    // A run killed before its first object: an empty directory.
    const empty = join(dir, "p", "20260101T020000Z-0002");
    await mkdir(empty);
    // A run that wrote an object but no manifest.
    await storage.put("p/20260101T030000Z-0003/public.t.ndjson.zst", Readable.from([Buffer.from("x")]));
    await utimes(join(dir, "p/20260101T030000Z-0003/public.t.ndjson.zst"), old, old);
    for (const d of [killed, empty, join(dir, "p/20260101T030000Z-0003")]) await utimes(d, old, old);

    const dry = await prune({ storage, keepLast: 1, dryRun: true });
    expect((await readdir(join(dir, "p"))).length).toBe(5);
    const real = await prune({ storage, keepLast: 1 });
    expect({ ...dry, dryRun: false }).toEqual(real);
    expect(real.deleted.map((d) => d.id)).toEqual([a.id]);
    expect(real.orphans).toEqual(["p/20260101T030000Z-0003/"]);
    expect(real.incompleteUploads).toBe(1);
    expect((await readdir(join(dir, "p"))).sort()).toEqual([b.id]);
    const again = await prune({ storage, keepLast: 1, dryRun: true });
    expect([again.deleted, again.orphans, again.incompleteUploads]).toEqual([[], [], 0]);
  });
});
