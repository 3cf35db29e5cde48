import type pg from "pg";

/** Which database a snapshot came from: its name and the cluster's system identifier. */
export interface SourceIdentity {
  database: string;
  /** pg_control_system().system_identifier; null when the role may not read it. */
  systemIdentifier: string | null;
}

/**
 * Reads the identity of the connected database (inside a transaction: a refused read of the
 * control data is rolled back to a savepoint, so it never aborts the caller's transaction).
 */
export async function readSourceIdentity(client: pg.Client): Promise<SourceIdentity> {
  const database = (await client.query<{ db: string }>("SELECT pg_catalog.current_database() AS db")).rows[0]!.db;
  await client.query("SAVEPOINT pgsnap_source_identity");
  try {
    const r = await client.query<{ id: string }>(
      "SELECT system_identifier::pg_catalog.text AS id FROM pg_catalog.pg_control_system()",
    );
    await client.query("RELEASE SAVEPOINT pgsnap_source_identity");
    return { database, systemIdentifier: r.rows[0]?.id ?? null };
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    await client.query("ROLLBACK TO SAVEPOINT pgsnap_source_identity");
    return { database, systemIdentifier: null };
  }
}
