/** Object keys of the snapshot layout: `<project>/<snapshot-id>/<file>`. */
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

/** Name of the marker `verify` leaves next to a manifest once a snapshot checked out whole. */
export const verifiedMarker = "verified.json";

/** Key of a snapshot's verified marker (prune keeps the newest verified snapshot). */
export function verifiedMarkerKey(project: string, id: string): string {
  return snapshotPrefix(project, id) + verifiedMarker;
}

/** File name of a table's data object: `<schema>.<table>.ndjson.zst`. */
export function tableObjectName(schema: string, name: string): string {
  return `${keySegment(schema)}.${keySegment(name)}.ndjson.zst`;
}
