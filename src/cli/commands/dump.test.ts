import { describe, expect, it } from "vitest";
import { MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL } from "../../format/zstd.js";
import { COMPRESSION_LEVELS } from "./dump.js";

describe("dump --compression-level", () => {
  it("accepts exactly the levels the zstd codec accepts", () => {
    expect(COMPRESSION_LEVELS).toEqual({ min: MIN_ZSTD_LEVEL, max: MAX_ZSTD_LEVEL });
  });
});
