/**
 * The dump's encoding alone, in memory, without PostgreSQL or storage: COPY text of the bench
 * table (public.t, bench/data.ts) through CopyToNdjson, and with `--framed` through the
 * all-tenants path (CopyToNdjson with the key first and group records, then TenantFrameStream).
 * Prints CPU per round (all threads: zstd's worker included) and the output size. The figures
 * behind the transcoder and tenant-frame commits of issue 14 came from this; to compare two
 * versions, run it at each commit, interleaved.
 *
 *   psql "$URL" -c "\copy t to /tmp/t.copy"                                    # plain
 *   psql "$URL" -c "\copy (SELECT 'k' || user_id, * FROM t ORDER BY user_id) to /tmp/t.sorted"
 *   node --max-semi-space-size=2 --import tsx bench/encode.ts /tmp/t.copy [rounds]
 *   node --max-semi-space-size=2 --import tsx bench/encode.ts /tmp/t.sorted --framed [rounds]
 *
 * Input goes in 64 KiB chunks, as socket reads arrive; the Transforms are called directly, so
 * stream plumbing is not measured.
 */
import { readFileSync } from "node:fs";
import { CopyToNdjson, type JsonKind } from "../src/format/copy-to-ndjson.js";
import { TenantFrameStream } from "../src/format/tenant-frames.js";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--") && !/^\d+$/.test(a));
const framed = args.includes("--framed");
const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 3);
if (file === undefined) {
  process.stderr.write("usage: bench/encode.ts <COPY text file of public.t> [--framed] [rounds]\n");
  process.exit(2);
}

const kinds: [string, JsonKind][] = [
  ["id", "number"],
  ["user_id", "number"],
  ["name", "string"],
  ["amount", "number"],
  ["created_at", "string"],
  ["payload", "string"],
  ["active", "bool"],
  ["tags", "string"],
];
const columns = kinds.map(([name, kind]) => ({ name, kind }));
const data = readFileSync(file);
const chunks: Buffer[] = [];
for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));

const fail = (err?: Error | null) => {
  if (err) throw err;
};

/** Runs `chunks` through `t` by its own _transform/_flush; returns what it pushed. */
function drive(t: CopyToNdjson | TenantFrameStream, input: Buffer[], keep: boolean): { bytes: number; out: Buffer[] } {
  const out: Buffer[] = [];
  let bytes = 0;
  t.push = (b: Buffer | null) => {
    if (b !== null) {
      bytes += b.length;
      if (keep) out.push(Buffer.from(b));
    }
    return true;
  };
  for (const c of input) t._transform(c, "buffer" as BufferEncoding, fail);
  t._flush(fail);
  return { bytes, out };
}

const cpu = (start: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(start);
  return ((u.user + u.system) / 1e6).toFixed(3);
};

if (!framed) {
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const { bytes } = drive(new CopyToNdjson({ columns }), chunks, false);
    process.stdout.write(`transcode: cpu ${cpu(c0)} s, ${bytes} NDJSON bytes\n`);
  }
} else {
  // The NDJSON is made once (not measured): what is timed is framing and compression.
  const json = new CopyToNdjson({ columns, tenantKeyFirst: true, groupRecords: true });
  const { out: ndjson } = drive(json, chunks, true);
  for (let r = 0; r < rounds; r++) {
    const frames = new TenantFrameStream({ level: 3, input: "group-records" });
    const c0 = process.cpuUsage();
    const { bytes } = drive(frames, ndjson, false);
    process.stdout.write(`frame + zstd -3: cpu ${cpu(c0)} s, ${bytes} bytes, ${frames.frames.length} frames\n`);
  }
}
