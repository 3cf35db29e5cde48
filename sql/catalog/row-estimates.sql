-- row-estimates.sql: the planner's row estimate of each table (pg_class.reltuples), for progress
-- and ETA only; a partitioned table sums its leaf partitions. NULL when never analyzed (-1).
-- params: $1 oid[] (tables)
-- columns: table_oid, estimate
SELECT r.oid AS table_oid,
       (SELECT CASE WHEN bool_and(c.reltuples < 0) THEN NULL ELSE sum(greatest(c.reltuples, 0))::float8 END
          FROM pg_catalog.pg_class c
         WHERE c.oid = r.oid AND c.relkind <> 'p'
            OR c.oid IN (SELECT pt.relid FROM pg_catalog.pg_partition_tree(r.oid) pt WHERE pt.isleaf)) AS estimate
  FROM unnest($1::oid[]) AS r(oid);
