/**
 * Snapshot ids (DESIGN.md, Snapshot format): `20260118T030000Z-3f9a` — the UTC time to the second
 * in ISO 8601 basic format, then 4 random hex digits, so ids sort by time as plain strings and two
 * runs in the same second do not collide (1 in 65,536).
 */
import { randomBytes } from "node:crypto";

const SNAPSHOT_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{4}$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** A new snapshot id for the time `date` (default now), e.g. `20260118T030000Z-3f9a`. */
export function newSnapshotId(date: Date = new Date()): string {
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) {
    throw new RangeError(`cannot make a snapshot id for the date ${String(date)}`);
  }
  const time =
    pad(year, 4) +
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    "T" +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    "Z";
  return `${time}-${randomBytes(2).toString("hex")}`;
}

/** The time a snapshot id names (whole seconds, UTC), or undefined if `id` is not a valid id. */
export function parseSnapshotTime(id: string): Date | undefined {
  const m = SNAPSHOT_ID.exec(id);
  if (m === null) return undefined;
  // The regex guarantees six digit groups; the defaults only satisfy the type checker.
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = m.slice(1).map(Number);
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // setUTCFullYear: years 0–99 are not mapped to 1900–1999
  date.setUTCHours(h, mi, s, 0);
  // Reject out-of-range fields (month 13, Feb 30, 24:00:00) instead of letting Date roll them over.
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    return undefined;
  }
  return date;
}

/** Whether `s` is a well-formed snapshot id naming a real UTC time. */
export function isSnapshotId(s: string): boolean {
  return parseSnapshotTime(s) !== undefined;
}
