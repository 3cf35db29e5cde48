/**
 * Tenant identity without a database (extract, list, `latest`): the canonical spelling of a
 * tenant id under the equality of the tenant column's type, so `1.0` and `1.00` (numeric), `ABC`
 * and `abc` (citext) or an upper-case uuid name the same tenant everywhere. With a database at
 * hand the canonical form comes from PostgreSQL itself (src/db/tenant-value.ts); these rules
 * reproduce it for the types whose equality differs from their text, and leave every other
 * type's text as it is.
 */

/** The canonical spelling of `raw` for a tenant column whose base type is `baseType` (pg typname). */
export function canonicalTenantText(baseType: string | undefined, raw: string): string {
  switch (baseType ?? "") {
    case "int2":
    case "int4":
    case "int8":
      return canonicalInteger(raw) ?? raw;
    case "numeric":
      return canonicalNumeric(raw) ?? raw;
    case "uuid":
      return canonicalUuid(raw) ?? raw;
    case "citext":
      return raw.toLowerCase();
    default:
      return raw;
  }
}

function canonicalInteger(raw: string): string | undefined {
  const m = /^\s*([+-]?)0*(\d+)\s*$/.exec(raw);
  if (!m) return undefined;
  const digits = m[2]!.replace(/^0+(?=\d)/, "");
  return digits === "0" ? "0" : `${m[1] === "-" ? "-" : ""}${digits}`;
}

/** numeric text as `trim_scale(x)::text` prints it: no exponent, no trailing fractional zeros. */
function canonicalNumeric(raw: string): string | undefined {
  const s = raw.trim();
  if (/^[+-]?nan$/i.test(s)) return "NaN";
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith("-") ? "-Infinity" : "Infinity";
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
  const negative = m[1] === "-";
  let int = m[2] ?? "";
  let frac = m[3] ?? "";
  const exp = m[4] ? Number(m[4]) : 0;
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 100_000) return undefined;
  if (exp > 0) {
    frac = frac.padEnd(exp, "0");
    int += frac.slice(0, exp);
    frac = frac.slice(exp);
  } else if (exp < 0) {
    int = int.padStart(-exp, "0");
    frac = int.slice(int.length + exp) + frac;
    int = int.slice(0, int.length + exp);
  }
  int = int.replace(/^0+/, "") || "0";
  frac = frac.replace(/0+$/, "");
  if (int === "0" && frac === "") return "0";
  return `${negative ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

/** uuid as PostgreSQL prints it: lower case, 8-4-4-4-12 (it accepts braces and missing hyphens). */
function canonicalUuid(raw: string): string | undefined {
  const hex = raw
    .trim()
    .replace(/^\{(.*)\}$/, "$1")
    .replace(/-/g, "")
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
