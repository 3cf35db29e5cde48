import { describe, expect, it } from "vitest";
import { countOf, formatBytes } from "./output.js";
import { describeCounts, formatDuration } from "./progress-view.js";

describe("output wording", () => {
  it("says 1 row, 0 rows, 2 rows", () => {
    expect(countOf(1, "row")).toBe("1 row");
    expect(countOf(0, "row")).toBe("0 rows");
    expect(countOf(2, "table")).toBe("2 tables");
    expect(describeCounts(1, 10, undefined, 1000, true)).toMatch(/^1 row \|/);
  });

  it("formats sizes, durations and the ETA of a progress line", () => {
    expect(formatBytes(1500)).toBe("1.5 kB");
    expect(formatDuration(125)).toBe("2m05s");
    expect(formatDuration(3 * 3600 + 120)).toBe("3h02m");
    // 500 of ~1,500 rows in 1 s: 500 rows/s, 2 s to go.
    expect(describeCounts(500, 5000, 1500, 1000, false)).toBe("500/~1,500 rows | 5.0 kB | 500 rows/s | ETA 2s");
    expect(describeCounts(500, 5000, undefined, 1000, false)).toMatch(/ETA \?$/);
  });
});
