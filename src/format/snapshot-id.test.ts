import { describe, expect, it } from "vitest";
import { isSnapshotId, newSnapshotId, parseSnapshotTime } from "./snapshot-id.js";

describe("newSnapshotId", () => {
  it("formats the UTC time to the second plus 4 hex digits", () => {
    const id = newSnapshotId(new Date("2026-01-18T03:00:00.999Z"));
    expect(id).toMatch(/^20260118T030000Z-[0-9a-f]{4}$/);
    // local time zone offsets must not leak in
    expect(newSnapshotId(new Date("2026-12-31T23:59:59+02:00"))).toMatch(/^20261231T215959Z-/);
    expect(newSnapshotId(new Date("0005-01-02T03:04:05Z"))).toMatch(/^00050102T030405Z-/);
  });

  it("uses the current time by default", () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const t = parseSnapshotTime(newSnapshotId());
    expect(t).toBeDefined();
    expect(t!.getTime()).toBeGreaterThanOrEqual(before);
    expect(t!.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("sorts by time as plain strings", () => {
    const times = [
      "2025-12-31T23:59:59Z",
      "2026-01-01T00:00:00Z",
      "2026-01-09T00:00:00Z",
      "2026-01-10T00:00:00Z",
      "2026-10-01T00:00:00Z",
    ];
    const ids = times.map((t) => newSnapshotId(new Date(t)));
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it("adds a random suffix", () => {
    const date = new Date("2026-01-18T03:00:00Z");
    const ids = new Set(Array.from({ length: 50 }, () => newSnapshotId(date)));
    expect(ids.size).toBeGreaterThan(40);
  });

  it("refuses invalid dates", () => {
    expect(() => newSnapshotId(new Date("nope"))).toThrow(RangeError);
    expect(() => newSnapshotId(new Date(Date.UTC(10000, 0, 1)))).toThrow(RangeError);
  });
});

describe("parseSnapshotTime / isSnapshotId", () => {
  it("round-trips", () => {
    const date = new Date("2026-02-28T13:14:15Z");
    const id = newSnapshotId(date);
    expect(parseSnapshotTime(id)?.toISOString()).toBe("2026-02-28T13:14:15.000Z");
    expect(isSnapshotId(id)).toBe(true);
    expect(parseSnapshotTime("20240229T000000Z-0000")?.toISOString()).toBe("2024-02-29T00:00:00.000Z");
    expect(parseSnapshotTime("00500101T000000Z-abcd")?.getUTCFullYear()).toBe(50);
  });

  it.each([
    "",
    "latest",
    "20260118T030000Z",
    "20260118T030000Z-3f9",
    "20260118T030000Z-3f9ab",
    "20260118T030000Z-3F9A",
    "20260118T030000-3f9a",
    "2026-01-18T03:00:00Z-3f9a",
    "20261318T030000Z-3f9a",
    "20260230T030000Z-3f9a",
    "20250229T030000Z-3f9a",
    "20260118T240000Z-3f9a",
    "20260118T036000Z-3f9a",
    "20260118T030060Z-3f9a",
    "20260100T030000Z-3f9a",
    " 20260118T030000Z-3f9a",
    "20260118T030000Z-3f9a\n",
    "../20260118T030000Z-3f9a",
  ])("rejects %j", (s) => {
    expect(parseSnapshotTime(s)).toBeUndefined();
    expect(isSnapshotId(s)).toBe(false);
  });
});
