import { describe, expect, it } from "vitest";
import { canonicalTenantText } from "./tenant-id.js";

describe("canonicalTenantText", () => {
  it("numeric: the spelling trim_scale(x)::text prints", () => {
    for (const [raw, want] of [
      ["1", "1"],
      ["1.0", "1"],
      ["1.00", "1"],
      ["01.500", "1.5"],
      ["+2", "2"],
      ["-0.0", "0"],
      [".5", "0.5"],
      ["1e2", "100"],
      ["1.5E-2", "0.015"],
      ["-12.340", "-12.34"],
      ["NaN", "NaN"],
    ]) {
      expect(canonicalTenantText("numeric", raw!), raw).toBe(want);
    }
    expect(canonicalTenantText("numeric", "abc")).toBe("abc");
  });

  it("integers: sign and leading zeros", () => {
    expect(canonicalTenantText("int8", " 007 ")).toBe("7");
    expect(canonicalTenantText("int4", "-0")).toBe("0");
    expect(canonicalTenantText("int2", "+42")).toBe("42");
    expect(canonicalTenantText("int4", "4x")).toBe("4x");
  });

  it("uuid: lower case, hyphens where PostgreSQL prints them", () => {
    const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    expect(canonicalTenantText("uuid", id.toUpperCase())).toBe(id);
    expect(canonicalTenantText("uuid", `{${id.replace(/-/g, "")}}`)).toBe(id);
    expect(canonicalTenantText("uuid", "not-a-uuid")).toBe("not-a-uuid");
  });

  it("citext folds case; other types keep their text", () => {
    expect(canonicalTenantText("citext", "AcMe")).toBe("acme");
    expect(canonicalTenantText("text", "AcMe")).toBe("AcMe");
    expect(canonicalTenantText(undefined, "1.0")).toBe("1.0");
  });
});
