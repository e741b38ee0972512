-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Embedding (GET /tickets?select=*,assignee_id(name)). The tables on custom carry rds's foreign keys
-- under rds's names (bridge/050_tables.sql), so PostgREST finds every relationship itself, exactly as
-- it does on rds: to-one, to-many, many-to-many through a junction, one-to-one, a self-reference both
-- ways, and each spelling — the other table's name, `!<constraint>` and `!<column>` hints, the
-- foreign key column as the embed (`assignee_id(*)`).
--
-- pgapp adds one spelling of its own, for a to-one relationship: the foreign key column without its
-- `_id` (assignee_id → `assignee(name)`), as a computed relationship — a function of one row
-- returning the row it refers to. Only where that name means nothing to PostgREST already: not a
-- column of the table, not the name of a table of rds's schemas or a relation in its own, not a
-- constraint or a column a relationship of the table could be named by, and not taken by another
-- foreign key of the table.
-- So it never changes what PostgREST's own spellings answer.
-- This file changed (a newer pgapp): sync_api makes the relationships again (050_api.sql).
DELETE FROM pgapp_private.sync_state WHERE step = 'api';

DROP FUNCTION IF EXISTS pgapp_private.plan_relationships(jsonb);
-- `api`: the planned tables ({schema, name, rel, t: the catalog's table}, 050_api.sql's plan_api()).
CREATE FUNCTION pgapp_private.plan_relationships(api jsonb)
RETURNS TABLE (name text, source text, target text, body text, tables text[], fk text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  c record;
  taken jsonb := '{}';
BEGIN
  FOR c IN
    WITH v AS (SELECT x ->> 'rel' AS rel, x -> 't' AS t, x -> 't' ->> 'schema' AS s, x -> 't' ->> 'name' AS n FROM jsonb_array_elements(api) x),
    fk AS (
      SELECT ch.rel AS child, pa.rel AS parent, format('%I.%I', ch.s, ch.n) AS ct, format('%I.%I', pa.s, pa.n) AS pt,
             ch.s AS cschema, k ->> 'name' AS conname,
             ARRAY(SELECT jsonb_array_elements_text(k -> 'columns')) AS ccols,
             ARRAY(SELECT jsonb_array_elements_text(k -> 'refColumns')) AS pcols
      FROM v ch CROSS JOIN LATERAL jsonb_array_elements(ch.t -> 'constraints') k
      JOIN v pa ON pa.rel = format('%s.%s', k ->> 'refSchema', k ->> 'refTable')
      WHERE k ->> 'kind' = 'f' AND cardinality(ARRAY(SELECT jsonb_array_elements_text(k -> 'columns'))) = 1
        AND k -> 'columns' ->> 0 ~ '.._id$'),
    cand AS (
      SELECT left(ccols[1], -3) AS name, ct AS source, pt AS target, child, parent, conname, cschema,
             format('SELECT * FROM %s WHERE %s', pt,
                    (SELECT string_agg(format('%I = $1.%I', p, ch), ' AND ') FROM unnest(pcols, ccols) AS u(p, ch))) AS body
      FROM fk)
    SELECT cand.*,
           -- What PostgREST may already call a relationship of the source: its columns, every table of its
           -- schema, and the constraints and columns of the foreign keys from and to it.
           (SELECT jsonb_agg(col ->> 'name') FROM v, jsonb_array_elements(v.t -> 'columns') col WHERE v.rel = cand.child)
           || (SELECT jsonb_agg(v.n) FROM v)
           || (SELECT coalesce(jsonb_agg(k ->> 'name'), '[]') FROM v, jsonb_array_elements(v.t -> 'constraints') k
                WHERE v.rel = cand.child OR (k ->> 'kind' = 'f' AND format('%s.%s', k ->> 'refSchema', k ->> 'refTable') = cand.child))
           || (SELECT coalesce(jsonb_agg(cc), '[]') FROM v, jsonb_array_elements(v.t -> 'constraints') k, jsonb_array_elements(k -> 'columns') cc
                WHERE k ->> 'kind' = 'f' AND format('%s.%s', k ->> 'refSchema', k ->> 'refTable') = cand.child) AS reserved
    FROM cand
    WHERE octet_length(cand.name) <= 63
    ORDER BY cand.source, cand.name, cand.conname
  LOOP
    CONTINUE WHEN c.reserved ? c.name OR coalesce(taken -> c.source, '[]') ? c.name
      OR to_regclass(format('%I.%I', c.cschema, c.name)) IS NOT NULL;
    taken := jsonb_set(taken, ARRAY[c.source], coalesce(taken -> c.source, '[]') || to_jsonb(c.name));
    name := c.name;
    source := c.source;
    target := c.target;
    body := c.body;
    tables := ARRAY[c.child, c.parent];
    fk := c.conname;
    RETURN NEXT;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION pgapp_private.plan_relationships(jsonb) FROM PUBLIC;
