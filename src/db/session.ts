/**
 * Session settings pinned on every dump and restore connection (DESIGN.md, "Snapshot format"):
 * values are printed and parsed the same way on both sides whatever the server defaults are.
 */
export const pinnedSettings: Readonly<Record<string, string>> = {
  DateStyle: "ISO, YMD",
  IntervalStyle: "postgres",
  TimeZone: "UTC",
  extra_float_digits: "3",
  bytea_output: "hex",
  client_encoding: "UTF8",
  standard_conforming_strings: "on",
  lc_monetary: "C",
  statement_timeout: "0",
  idle_in_transaction_session_timeout: "0",
  xmloption: "content",
};
// search_path is deliberately not pinned: pgsnap's own SQL is schema-qualified, while triggers,
// check constraints and configured filters may rely on the role's usual search_path.

/** `SET ...` statements for the pinned settings plus `lock_timeout`. */
export function pinnedSettingsSql(lockTimeoutMs: number): string {
  const sets = Object.entries({ ...pinnedSettings, lock_timeout: `${lockTimeoutMs}ms` }).map(
    ([name, value]) => `SET ${name} = '${value.replace(/'/g, "''")}'`,
  );
  return sets.join("; ");
}
