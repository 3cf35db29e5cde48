/** Object keys of the snapshot layout: `<project>/<snapshot-id>/<file>`. */
import { createHash } from "node:crypto";
import { manifestName } from "../format/manifest.js";

/** A name made safe as one key segment: letters, digits, `_`, `-` kept; the rest %-escaped. */
export function keySegment(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/gu, (ch) =>
    [...Buffer.from(ch, "utf8")].map((b) => "%" + b.toString(16).toUpperCase().padStart(2, "0")).join(""),
  );
}

export function projectPrefix(project: string): string {
  return keySegment(project) + "/";
}

export function snapshotPrefix(project: string, id: string): string {
  return projectPrefix(project) + id + "/";
}

export function manifestKey(project: string, id: string): string {
  return snapshotPrefix(project, id) + manifestName;
}

const OBJECT_SUFFIX = ".ndjson.zst";
/**
 * Longest data object name, in bytes (all ASCII). File systems allow 255 bytes per name; a
 * 63-byte multibyte schema and table name escape to 380. Well below, so temp-file prefixes and
 * suffixes of a backend still fit.
 */
export const MAX_OBJECT_NAME = 120;

/**
 * File name of a table's data object: `<schema>.<table>.ndjson.zst` with both parts escaped by
 * `keySegment` (so the `.` between them is unambiguous). A name that would be longer than
 * MAX_OBJECT_NAME, or any name when `hashed` is set (the dump asks for it when two names differ
 * only in letter case, for case-insensitive file systems), becomes a readable prefix, `~` and 16
 * hex digits of sha256 over schema and name (`~` is always escaped in segments, so a hashed name
 * never equals a plain one). The manifest records each table's object name and exact id.
 */
export function tableObjectName(schema: string, name: string, options: { hashed?: boolean } = {}): string {
  const plain = `${keySegment(schema)}.${keySegment(name)}`;
  if (!options.hashed && plain.length + OBJECT_SUFFIX.length <= MAX_OBJECT_NAME) return plain + OBJECT_SUFFIX;
  const hash = createHash("sha256").update(schema).update("\u0000").update(name).digest("hex").slice(0, 16);
  let prefix = plain.slice(0, MAX_OBJECT_NAME - OBJECT_SUFFIX.length - hash.length - 1);
  // Never cut through a %XX escape.
  const pct = prefix.lastIndexOf("%");
  if (pct !== -1 && pct > prefix.length - 3) prefix = prefix.slice(0, pct);
  return `${prefix}~${hash}${OBJECT_SUFFIX}`;
}

/** Name of the marker `verify` leaves next to a manifest once a snapshot checked out whole. */
export const verifiedMarker = "verified.json";

/** Key of a snapshot's verified marker (prune keeps the newest verified snapshot). */
export function verifiedMarkerKey(project: string, id: string): string {
  return snapshotPrefix(project, id) + verifiedMarker;
}
