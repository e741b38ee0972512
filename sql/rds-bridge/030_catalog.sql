-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- On rds: what custom is built from.
-- The bridged schemas' tables as rds defines them. Names are schema-qualified (search_path is
-- pg_catalog here), so every definition means the same on custom, where the same schemas and types
-- exist. Per column, where its default can be evaluated:
--   defaultOn 'custom'  only pg_catalog's functions and casts (now(), gen_random_uuid(), 'open'::desk.status):
--                       copied as the foreign table's local default (postgres_fdw sends every column)
--   defaultOn 'rds'     an identity, a generated column, a sequence (serial, bigserial), the clock
--                       (now(), CURRENT_TIMESTAMP: created_at is the server's to say), or one of the
--                       user's functions: rds assigns it (the foreign table sends DEFAULT), clients do not
--                       ('assignedBy' says which)
-- Tables that belong to an extension (postgis's spatial_ref_sys, say) are not the user's: left out.
-- SECURITY DEFINER: the bridge user reads it through the view, and the function reads
-- pgapp_bridge.bridged (only the catalogs besides, which every role may read). jit off: the
-- planner's estimates for this many catalog subqueries pass jit_above_cost, and compiling them
-- took ~2 s of a 3 ms query, on every `dev`.
-- A table's size on rds (a partitioned one's: its partitions'): the planner's row estimate (NULL before
-- any ANALYZE) and its bytes without indexes — what a copy of it carries.
CREATE OR REPLACE FUNCTION pgapp_bridge.table_size(t oid, OUT rows bigint, OUT bytes bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT sum(c.reltuples) FILTER (WHERE c.reltuples >= 0)::bigint, sum(pg_table_size(c.oid))::bigint
  FROM pg_class c
  WHERE (c.oid = t AND c.relkind IN ('r', 'm')) OR c.oid IN (SELECT pt.relid FROM pg_partition_tree(t) pt WHERE pt.isleaf)
$$;

CREATE OR REPLACE FUNCTION pgapp_bridge.catalog_doc() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog SET jit = off AS $$
WITH rel AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind, c.relreplident, b.position
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
col AS (
  SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.attnotnull, a.attidentity, a.attgenerated,
         format_type(a.atttypid, a.atttypmod) AS type,
         pg_get_expr(ad.adbin, ad.adrelid) AS expr,
         col_description(a.attrelid, a.attnum) AS comment,
         -- A default that needs rds: a sequence (serial) or another relation, or a function outside pg_catalog.
         ad.oid IS NOT NULL AND EXISTS (
           SELECT 1 FROM pg_depend d
           WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
             AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid <> a.attrelid)
                  OR (d.refclassid = 'pg_proc'::regclass
                      AND (SELECT p.pronamespace FROM pg_proc p WHERE p.oid = d.refobjid) <> 'pg_catalog'::regnamespace))
         ) AS needs_rds
  FROM pg_attribute a
  JOIN rel ON rel.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
),
col2 AS (
  SELECT col.*,
         CASE WHEN col.attidentity <> '' THEN 'identity'
              WHEN col.attgenerated <> '' THEN 'generated'
              WHEN col.expr ~ '\mnextval\(' THEN 'sequence'
              WHEN col.expr ~* '\m(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\(\)|\mCURRENT_(TIMESTAMP|DATE|TIME)\M|\mLOCAL(TIMESTAMP|TIME)\M' THEN 'clock'
              WHEN col.needs_rds THEN 'function' END AS assigned_by
  FROM col
),
-- The views and materialized views of the bridged schemas (PostgREST serves them as it serves tables).
vw AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind, c.reloptions, b.position
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
  WHERE c.relkind IN ('v', 'm')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
-- What each view's definition uses: relations and functions (a view's rule depends on them).
vw_use AS (
  SELECT DISTINCT vw.oid, d.refclassid, d.refobjid
  FROM vw JOIN pg_rewrite r ON r.ev_class = vw.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.deptype = 'n'
  WHERE NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = vw.oid)
),
-- The functions of the bridged schemas PostgREST would call (not procedures, aggregates, triggers).
fn AS (
  SELECT p.oid, n.nspname AS schema, p.proname AS name, b.position
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
  WHERE p.prokind = 'f' AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
),
-- Every type a bridged column uses, and what those are built on (array elements, a domain's base,
-- a composite's attributes, a range's subtype), transitively. A view's columns too, but not one of a
-- relation's own row type (custom cannot make those: the view is then rds's, read as it is).
used (oid) AS (
  WITH RECURSIVE u (oid) AS (
    SELECT DISTINCT atttypid FROM col
    UNION
    SELECT a.atttypid FROM pg_attribute a JOIN vw ON vw.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND NOT (t.typtype = 'c' AND (SELECT k.relkind FROM pg_class k WHERE k.oid = t.typrelid) <> 'c')
    UNION
    SELECT x.oid FROM u JOIN pg_type t ON t.oid = u.oid
    CROSS JOIN LATERAL (
      SELECT t.typelem AS oid WHERE t.typelem <> 0 AND t.typcategory = 'A'
      UNION ALL SELECT t.typbasetype WHERE t.typtype = 'd'
      UNION ALL SELECT a.atttypid FROM pg_attribute a
                WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE t.typtype = 'r' AND r.rngtypid = t.oid
    ) x
  )
  SELECT oid FROM u
),
ext AS (
  SELECT DISTINCT e.extname, en.nspname AS schema
  FROM used JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = used.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid
  JOIN pg_namespace en ON en.oid = e.extnamespace
),
typ AS (
  SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind, t.typbasetype, t.typtypmod,
         t.typnotnull, t.typdefault, t.typrelid
  FROM used JOIN pg_type t ON t.oid = used.oid JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND t.typtype IN ('e', 'd', 'c', 'r')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
)
SELECT jsonb_build_object(
  'database', current_database(),
  'schemas', (SELECT coalesce(jsonb_agg(schema_name ORDER BY position), '[]') FROM pgapp_bridge.bridged),
  'tables', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', rel.schema,
      'name', rel.name,
      'comment', obj_description(rel.oid, 'pg_class'),
      'replicaIdentity', rel.relreplident,
      'published', EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                           WHERE p.pubname = 'pgapp' AND pr.prrelid = rel.oid),
      -- What of it the publication carries: its row filter and column list (NULL: every row, every column).
      'publication', (SELECT jsonb_build_object(
                        'where', pg_get_expr(pr.prqual, pr.prrelid),
                        'columns', (SELECT jsonb_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a
                                     WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs::int2[])))
                      FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                      WHERE p.pubname = 'pgapp' AND pr.prrelid = rel.oid),
      'columns', (SELECT jsonb_agg(jsonb_build_object(
          'name', col.attname,
          'type', col.type,
          'notNull', col.attnotnull,
          'identity', nullif(col.attidentity, ''),
          'generated', nullif(col.attgenerated, ''),
          'expr', col.expr,
          -- Whether custom can evaluate the expression itself (a generated column's, for the replica).
          'exprOn', CASE WHEN col.expr IS NULL THEN NULL WHEN col.needs_rds THEN 'rds' ELSE 'custom' END,
          'defaultOn', CASE WHEN col.assigned_by IS NOT NULL THEN 'rds' WHEN col.expr IS NOT NULL THEN 'custom' END,
          'assignedBy', col.assigned_by,
          'comment', col.comment) ORDER BY col.attnum)
        FROM col2 AS col WHERE col.attrelid = rel.oid),
      'key', (SELECT jsonb_agg(a.attname ORDER BY k.ord)
                FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE i.indrelid = rel.oid AND i.indisprimary),
      'constraints', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', co.conname,
          'kind', co.contype,
          'def', pg_get_constraintdef(co.oid),
          'columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(co.conkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum),
          'refSchema', rn.nspname,
          'refTable', rc.relname,
          'refColumns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(co.confkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum))
          ORDER BY co.contype = 'f', co.conname)
        FROM pg_constraint co
        LEFT JOIN pg_class rc ON rc.oid = co.confrelid
        LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
        WHERE co.conrelid = rel.oid AND co.contype IN ('p', 'u', 'f')), '[]'),
      'indexes', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', ic.relname, 'def', pg_get_indexdef(i.indexrelid), 'unique', i.indisunique,
          -- Its columns, when it has no expression (NULL otherwise).
          'columns', CASE WHEN NOT 0 = ANY (i.indkey::int2[]) AND i.indpred IS NULL THEN
                       (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) END) ORDER BY ic.relname)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = rel.oid AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid)), '[]'),
      -- A partitioned table: how (pg_get_partkeydef), its partitions (each with its bound, how it is
      -- partitioned in turn, and its own keys), and the key its leaves share where it has none.
      'partitionBy', CASE WHEN rel.relkind = 'p' THEN pg_get_partkeydef(rel.oid) END,
      'partitions', CASE WHEN rel.relkind = 'p' THEN (
          SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'schema', pn.nspname, 'name', pc.relname, 'parent', format('%I.%I', ppn.nspname, ppc.relname),
                   'bound', pg_get_expr(pc.relpartbound, pc.oid),
                   'partitionBy', CASE WHEN pc.relkind = 'p' THEN pg_get_partkeydef(pc.oid) END,
                   'constraints', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', co.conname, 'def', pg_get_constraintdef(co.oid))
                                                   ORDER BY co.conname), '[]')
                                   FROM pg_constraint co WHERE co.conrelid = pc.oid AND co.contype IN ('p', 'u') AND co.conparentid = 0))
                 ORDER BY pt.level, pn.nspname, pc.relname), '[]')
          FROM pg_partition_tree(rel.oid) pt
          JOIN pg_class pc ON pc.oid = pt.relid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
          JOIN pg_class ppc ON ppc.oid = pt.parentrelid JOIN pg_namespace ppn ON ppn.oid = ppc.relnamespace
          WHERE pt.level > 0) END,
      'leafKey', CASE WHEN rel.relkind = 'p' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = rel.oid AND i.indisprimary) THEN (
          SELECT CASE WHEN count(DISTINCT k.cols) = 1 AND bool_and(k.cols IS NOT NULL) THEN min(k.cols::text)::jsonb END
          FROM (SELECT (SELECT jsonb_agg(a.attname ORDER BY x.ord) FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS x(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum
                        WHERE i.indrelid = pt.relid AND i.indisprimary) AS cols
                FROM pg_partition_tree(rel.oid) pt WHERE pt.isleaf) k) END,
      -- Its size, what a first copy to the replica costs.
      'rows', (SELECT z.rows FROM pgapp_bridge.table_size(rel.oid) z),
      'bytes', (SELECT z.bytes FROM pgapp_bridge.table_size(rel.oid) z))
    ORDER BY rel.position, rel.name) FROM rel), '[]'),
  'types', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', typ.schema,
      'name', typ.name,
      'kind', typ.kind,
      'labels', CASE WHEN typ.kind = 'e' THEN (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = typ.oid) END,
      'base', CASE WHEN typ.kind = 'd' THEN format_type(typ.typbasetype, typ.typtypmod) END,
      'notNull', typ.typnotnull,
      'default', typ.typdefault,
      'checks', CASE WHEN typ.kind = 'd' THEN (SELECT coalesce(jsonb_agg(pg_get_constraintdef(co.oid) ORDER BY co.conname), '[]')
                                               FROM pg_constraint co WHERE co.contypid = typ.oid AND co.contype = 'c') END,
      'attributes', CASE WHEN typ.kind = 'c' THEN (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                                                   FROM pg_attribute a WHERE a.attrelid = typ.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
      'subtype', CASE WHEN typ.kind = 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = typ.oid) END,
      'table', CASE WHEN typ.kind = 'c' THEN (SELECT c.relkind <> 'c' FROM pg_class c WHERE c.oid = typ.typrelid) END)
    ORDER BY typ.schema, typ.name) FROM typ), '[]'),
  'extensions', coalesce((SELECT jsonb_agg(jsonb_build_object('name', extname, 'schema', schema) ORDER BY extname) FROM ext), '[]'),
  -- Views and materialized views: their definitions (names qualified: search_path is pg_catalog),
  -- options (security_invoker, security_barrier, check_option), columns, what they read and call.
  'views', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', vw.schema,
      'name', vw.name,
      'kind', CASE vw.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END,
      'definition', pg_get_viewdef(vw.oid),
      'options', coalesce(to_jsonb(vw.reloptions), '[]'),
      'comment', obj_description(vw.oid, 'pg_class'),
      'columns', (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                      'comment', col_description(a.attrelid, a.attnum)) ORDER BY a.attnum)
                  FROM pg_attribute a WHERE a.attrelid = vw.oid AND a.attnum > 0 AND NOT a.attisdropped),
      -- The relations it reads, directly: {schema, name, kind (r, p, v, m, f)}.
      'reads', (SELECT coalesce(jsonb_agg(jsonb_build_object('schema', rn.nspname, 'name', rc.relname, 'kind', rc.relkind)
                                          ORDER BY rn.nspname, rc.relname), '[]')
                FROM vw_use u JOIN pg_class rc ON rc.oid = u.refobjid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                WHERE u.oid = vw.oid AND u.refclassid = 'pg_class'::regclass),
      -- The functions it calls that are not pg_catalog's (the user's, an extension's).
      'functions', (SELECT coalesce(jsonb_agg(format('%s.%s', pn.nspname, p.proname) ORDER BY pn.nspname, p.proname), '[]')
                    FROM vw_use u JOIN pg_proc p ON p.oid = u.refobjid JOIN pg_namespace pn ON pn.oid = p.pronamespace
                    WHERE u.oid = vw.oid AND u.refclassid = 'pg_proc'::regclass AND pn.nspname <> 'pg_catalog'),
      -- Which writes it takes (pg_relation_is_updatable's bits: 4 INSERT, 8 UPDATE, 16 DELETE).
      'updatable', pg_relation_is_updatable(vw.oid, true),
      'rows', CASE WHEN vw.relkind = 'm' THEN (SELECT z.rows FROM pgapp_bridge.table_size(vw.oid) z) END)
    ORDER BY vw.position, vw.name) FROM vw), '[]'),
  -- Functions: their definitions, signatures and what they return, to be made on custom or called on rds.
  'functions', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', fn.schema,
      'name', fn.name,
      -- As to_regprocedure reads it (argument types only), and as GRANT names it.
      'callAs', format('%I.%I(%s)', fn.schema, fn.name, oidvectortypes(p.proargtypes)),
      'arguments', pg_get_function_arguments(p.oid),
      'result', pg_get_function_result(p.oid),
      'definition', pg_get_functiondef(p.oid),
      'language', l.lanname,
      'volatility', p.provolatile,
      'securityDefiner', p.prosecdef,
      'set', p.proretset,
      'returns', format_type(p.prorettype, NULL),
      'returnsKind', CASE WHEN p.prorettype = 'void'::regtype THEN 'void'
                          WHEN coalesce(p.proargmodes::text[] && '{o,b,t}', false) THEN 'record'
                          WHEN p.prorettype = 'record'::regtype THEN 'anonymous record'
                          WHEN rt.typtype = 'c' THEN 'composite'
                          WHEN rt.typtype = 'p' THEN 'pseudo'
                          ELSE 'scalar' END,
      -- Its parameters in order: position (as $n counts them), name, type, mode (i, o, b, v, t).
      'parameters', (SELECT coalesce(jsonb_agg(jsonb_build_object('position', a.i, 'name', nullif(a.name, ''), 'type', format_type(a.type, NULL),
                                                                 'mode', coalesce(a.mode, 'i')) ORDER BY a.i), '[]')
                     FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes, p.proargnames)
                          WITH ORDINALITY AS a(type, mode, name, i)),
      'comment', obj_description(p.oid, 'pg_proc'))
    ORDER BY fn.position, fn.name, p.oid)
    FROM fn JOIN pg_proc p ON p.oid = fn.oid JOIN pg_language l ON l.oid = p.prolang JOIN pg_type rt ON rt.oid = p.prorettype), '[]'),
  -- What else the bridged schemas hold that PostgREST on rds would serve, which pgapp does not (yet):
  -- `dev` and `status` list each, with why, so nothing is left out silently.
  'unserved', coalesce((SELECT jsonb_agg(jsonb_build_object('schema', o.schema, 'name', o.name, 'kind', o.kind) ORDER BY o.position, o.kind, o.name)
    FROM (SELECT b.position, n.nspname AS schema, c.relname::text AS name,
                 CASE WHEN c.relispartition THEN 'partition' ELSE
                   CASE c.relkind WHEN 'f' THEN 'foreign table' END END AS kind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
          WHERE (c.relkind = 'f' OR (c.relkind IN ('r', 'p') AND c.relispartition))
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
          UNION ALL
          SELECT b.position, n.nspname, format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)), 'procedure'
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
          WHERE p.prokind = 'p'
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')) o), '[]'))
$$;
CREATE OR REPLACE VIEW pgapp_bridge.catalog AS SELECT pgapp_bridge.catalog_doc() AS doc;
REVOKE ALL ON FUNCTION pgapp_bridge.catalog_doc(), pgapp_bridge.table_size(oid) FROM PUBLIC;
