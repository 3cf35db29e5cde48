/**
 * Generated benchmark data: one table `public.t` of mixed types, ~170 bytes per row as COPY text.
 *
 *   id bigint PK · user_id int (tenant column, indexed) · name text · amount numeric(12,2) ·
 *   created_at timestamptz · payload jsonb · active boolean · tags text[]
 *
 * Every column value depends only on `id`, so two databases generated with overlapping id ranges
 * hold identical rows there (the restore comparison relies on that). Each dataset is its own
 * database, because `pgsnap dump` (full) dumps every table of a database.
 */
import pg from "pg";
import { withClient } from "../test/helpers/postgres.js";

/** How rows are assigned to tenants. */
export type TenantLayout =
  /**
   * `tenants` tenants interleaved over the heap (as rows arrive in a live system): tenant 1 owns
   * every `focusEvery`-th row, the rest are spread by a hash of id over tenants 2..tenants.
   */
  | { kind: "interleaved"; tenants: number; focusEvery: number }
  /** Tenant 1 owns ids 1..bigRows; the rows after that go round-robin to tenants 2..1+others. */
  | { kind: "big-first"; bigRows: number; others: number };

export interface DatasetSpec {
  rows: number;
  layout: TenantLayout;
}

/** The SQL expression giving the tenant of row `i`. */
function tenantExpr(layout: TenantLayout): string {
  switch (layout.kind) {
    case "interleaved":
      if (layout.tenants < 2) return "1";
      return `CASE WHEN i % ${layout.focusEvery} = 0 THEN 1 ELSE 2 + ((hashint8(i) & 2147483647) % ${layout.tenants - 1})::int END`;
    case "big-first":
      return `CASE WHEN i <= ${layout.bigRows} THEN 1 ELSE 2 + (i % ${Math.max(1, layout.others)})::int END`;
  }
}

/** Table definition without keys (they are added after the load, like pg_restore does). */
export const tableDdl = `CREATE TABLE public.t (
  id bigint NOT NULL,
  user_id int NOT NULL,
  name text,
  amount numeric(12,2),
  created_at timestamptz,
  payload jsonb,
  active boolean,
  tags text[]
)`;

const keysDdl = [
  "ALTER TABLE public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
  "CREATE INDEX t_user_id_idx ON public.t (user_id)",
];

/** The select list producing row `i` (deterministic in i). */
const rowSql = (tenant: string) => `SELECT i,
  ${tenant},
  'customer ' || substr(md5(i::text), 1, 8 + (i % 17)::int) ||
    CASE WHEN i % 97 = 0 THEN E' O''Brien "quoted" \\\\ back\\tslash' WHEN i % 89 = 0 THEN E'multi\\nline ünïcødé' ELSE '' END,
  ((hashint8(i) & 16777215) / 100.0)::numeric(12,2),
  timestamptz '2020-01-01 00:00:00+00' + i * interval '1.731 second',
  jsonb_build_object('sku', 'SKU-' || (i % 9973), 'qty', i % 17, 'price', (i % 10000) / 100.0,
                     'note', substr(md5((i * 7)::text), 1, 10)),
  i % 3 <> 0,
  CASE WHEN i % 13 = 0 THEN NULL ELSE ARRAY['tag' || (i % 7), 'tag' || (i % 11), 'x' || (i % 101)] END`;

/**
 * Fills `public.t` of the (empty) database at `url` with `spec.rows` rows starting at id
 * `firstId` (default 1), then adds the primary key and the tenant index and runs VACUUM ANALYZE
 * (so every measured tool reads an all-visible, analyzed table).
 */
export async function generateTable(
  url: string,
  spec: DatasetSpec,
  log: (msg: string) => void,
  firstId = 1,
): Promise<void> {
  await withClient(url, async (c) => {
    await c.query("SET maintenance_work_mem = '256MB'");
    await c.query("SET synchronous_commit = off");
    await c.query(tableDdl);
    const chunk = 1_000_000;
    const tenant = tenantExpr(spec.layout);
    const last = firstId + spec.rows - 1;
    for (let from = firstId; from <= last; from += chunk) {
      const to = Math.min(last, from + chunk - 1);
      await c.query(`INSERT INTO public.t ${rowSql(tenant)} FROM generate_series(${from}::bigint, ${to}::bigint) i`);
      log(`  ${(to - firstId + 1).toLocaleString("en-US")} / ${spec.rows.toLocaleString("en-US")} rows`);
    }
    for (const ddl of keysDdl) await c.query(ddl);
    await c.query("VACUUM ANALYZE public.t");
  });
}

/** An empty `public.t` with its keys (the target of pg_restore / psql \copy from). */
export async function createEmptyTable(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(tableDdl);
    for (const ddl of keysDdl) await c.query(ddl);
  });
}

/** Row count per tenant for the given tenants. */
export async function tenantRows(url: string, tenant: number): Promise<number> {
  return withClient(url, async (c) => {
    const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM public.t WHERE user_id = $1", [tenant]);
    return Number(r.rows[0]?.n ?? 0);
  });
}

/** Runs statements on `url`, one client. */
export async function sql(url: string, ...statements: string[]): Promise<void> {
  await withClient(url, async (c) => {
    for (const s of statements) await c.query(s);
  });
}

/** One value of a one-row query. */
export async function scalar(url: string, query: string): Promise<string> {
  return withClient(url, async (c: pg.Client) => {
    const r = await c.query<Record<string, unknown>>(query);
    const row = r.rows[0];
    return row ? String(Object.values(row)[0]) : "";
  });
}
