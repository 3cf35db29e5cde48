/**
 * `pgsnap verify`: read every object of a snapshot, check its sha256 (and every tenant frame's),
 * decompress it fully and count its rows against the manifest (restic's `check --read-data`).
 * With a database, `--restore-test` also loads every table into scratch tables and checks that
 * the rows decode into the live schema and encode back to exactly the stored lines.
 */
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { IntegrityError, PgsnapError } from "../errors.js";
import { DigestStream } from "../format/digest.js";
import { LineCounter } from "../format/line-counter.js";
import type { FrameEntry, Manifest, ManifestTable } from "../format/manifest.js";
import { createDecompressStream } from "../format/zstd.js";
import { findSnapshot, type SnapshotFilter } from "../snapshots/list-snapshots.js";
import { snapshotPrefix, verifiedMarkerKey } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

export interface VerifyObjectResult {
  table: string;
  object: string;
  rows: number;
  storedBytes: number;
  ok: boolean;
  /** `ok`; `missing` (no such object); `damaged` (checksum, size, rows or decompression wrong). */
  verdict: "ok" | "missing" | "damaged";
  problems: string[];
}

export interface VerifyResult {
  snapshot: string;
  project: string;
  ok: boolean;
  objects: VerifyObjectResult[];
  restoreTest?: { ok: boolean; tables: { table: string; rows: number; ok: boolean; problem?: string }[] } | undefined;
}

export interface VerifyOptions {
  storage: Storage;
  project?: string | undefined;
  snapshot: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((table: string) => void) | undefined;
  /** For `latest`: told which snapshot was chosen and why (see findSnapshot). */
  onChoice?: SnapshotFilter["onChoice"];
}

/** Moved to storage/keys.ts; re-exported for code written before the move. */
export { verifiedMarker } from "../storage/keys.js";

/** Checks every object; returns the findings (throws only on storage failures). */
export async function verifySnapshot(options: VerifyOptions): Promise<{ manifest: Manifest; result: VerifyResult }> {
  const manifest = await findSnapshot(options.storage, options.project, options.snapshot, {
    signal: options.signal,
    onChoice: options.onChoice,
  });
  const prefix = snapshotPrefix(manifest.project, manifest.id);
  const objects: VerifyObjectResult[] = [];
  for (const t of manifest.tables) {
    options.onProgress?.(t.table);
    objects.push(await verifyObject(options.storage, prefix, t, options.signal));
  }
  const ok = objects.every((o) => o.ok);
  return { manifest, result: { snapshot: manifest.id, project: manifest.project, ok, objects } };
}

/** Records that a snapshot verified (prune keeps the newest verified snapshot). */
export async function markVerified(storage: Storage, manifest: Manifest, restoreTested: boolean): Promise<void> {
  const body = { snapshot: manifest.id, verifiedAt: new Date().toISOString(), restoreTest: restoreTested };
  await storage.putBytes(verifiedMarkerKey(manifest.project, manifest.id), Buffer.from(JSON.stringify(body)));
}

/** Throws IntegrityError (exit 12) naming every failed object. */
export function assertVerified(result: VerifyResult): void {
  const bad = result.objects.filter((o) => !o.ok);
  const problems = bad.flatMap((o) => o.problems.map((p) => `${o.object}: ${p}`));
  if (result.restoreTest && !result.restoreTest.ok) {
    for (const t of result.restoreTest.tables)
      if (!t.ok) problems.push(`${t.table}: restore test: ${t.problem ?? "failed"}`);
  }
  if (problems.length > 0) {
    throw new IntegrityError(
      "VERIFY_FAILED",
      `snapshot ${result.snapshot} failed verification:\n  ${problems.join("\n  ")}`,
      {
        hint: "do not rely on this snapshot; restore from an older one (pgsnap list) and take a new dump",
      },
    );
  }
}

async function verifyObject(
  storage: Storage,
  prefix: string,
  t: ManifestTable,
  signal: AbortSignal | undefined,
): Promise<VerifyObjectResult> {
  const problems: string[] = [];
  const out: VerifyObjectResult = {
    table: t.table,
    object: t.object,
    rows: 0,
    storedBytes: 0,
    ok: false,
    verdict: "damaged",
    problems,
  };
  const info = await storage.stat(prefix + t.object, { signal });
  if (!info) {
    problems.push("object is missing");
    out.verdict = "missing";
    return out;
  }
  out.storedBytes = info.size;
  if (info.size !== t.storedBytes) problems.push(`size is ${info.size} bytes, the manifest says ${t.storedBytes}`);
  const digest = new DigestStream();
  const frames = new FrameHasher(t.frames ?? []);
  const counter = new LineCounter();
  try {
    const body = await storage.get(prefix + t.object, undefined, { signal });
    await pipeline(body, digest, frames, createDecompressStream(), counter, devNull(), { signal });
  } catch (err) {
    if (err instanceof PgsnapError && err.exitCode !== 12) throw err;
    if ((err as { name?: string }).name === "AbortError") throw err;
    problems.push(`cannot be read whole: ${(err as Error).message}`);
    return out;
  }
  out.rows = counter.lines;
  if (digest.sha256 !== t.sha256) problems.push(`sha256 is ${digest.sha256}, the manifest says ${t.sha256}`);
  if (counter.lines !== t.rows) problems.push(`holds ${counter.lines} rows, the manifest says ${t.rows}`);
  if (counter.bytes !== t.bytes) problems.push(`holds ${counter.bytes} bytes of rows, the manifest says ${t.bytes}`);
  problems.push(...frames.problems());
  out.ok = problems.length === 0;
  if (out.ok) out.verdict = "ok";
  return out;
}

function devNull(): Writable {
  return new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
}

/** Pass-through that hashes the byte range of every tenant frame as it streams by. */
class FrameHasher extends Transform {
  #pos = 0;
  #i = 0;
  #hash: Hash | undefined;
  #bad: string[] = [];
  readonly #frames: FrameEntry[];

  constructor(frames: FrameEntry[]) {
    super();
    this.#frames = [...frames].sort((a, b) => a.offset - b.offset);
  }

  problems(): string[] {
    if (this.#i < this.#frames.length)
      this.#bad.push(`${this.#frames.length - this.#i} tenant frames lie past the end of the object`);
    return this.#bad;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length && this.#i < this.#frames.length) {
      const f = this.#frames[this.#i]!;
      const abs = this.#pos + at;
      if (abs < f.offset) {
        at = Math.min(chunk.length, at + (f.offset - abs));
        continue;
      }
      this.#hash ??= createHash("sha256");
      const take = Math.min(chunk.length - at, f.offset + f.length - abs);
      this.#hash.update(chunk.subarray(at, at + take));
      at += take;
      if (this.#pos + at === f.offset + f.length) {
        const got = this.#hash.digest("hex");
        if (got !== f.sha256)
          this.#bad.push(
            `frame of ${f.tenant === null ? "the rows owned by no tenant" : `tenant ${f.tenant}`} has sha256 ${got}, the manifest says ${f.sha256}`,
          );
        this.#hash = undefined;
        this.#i++;
      }
    }
    this.#pos += chunk.length;
    done(null, chunk);
  }
}
