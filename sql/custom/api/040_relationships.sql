-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Embedding (GET /tickets?select=*,assignee(name)) from rds's foreign keys, the same in both read
-- modes: a computed relationship (a function of one api row returning api rows) for each. Over the
-- replica PostgREST would find the foreign keys through the views by itself; over foreign tables
-- (reads: fdw, or a table rds cannot publish) there are none to find. A computed relationship
-- overrides a detected one of the same name, so these names mean the same whichever way a table is read.
--
-- Names, for a foreign key from child C to parent P (first come, first served per api view; never a
-- name that is one of the view's columns):
--   to-one  on C  the column without _id (company_id → company), and P's api name when C has one
--                 foreign key to P (contacts → companies); else the constraint's name
--   to-many on P  C's api name when C has one foreign key to P; else <C>_by_<column without _id>
--                 (agents → tickets_by_assignee, tickets_by_reporter)
--   many-to-many  through a table J whose primary key holds exactly two foreign keys, to A and to B:
--                 on A, B's api name (books → tags), and on B, A's
-- A self-reference (agents.lead_id → agents) gives the to-one (lead) and the to-many (agents: the
-- rows that name this one). `select=x!hint(...)` disambiguation works only over the replica: use these names.
-- This file changed (a newer pgapp): sync_api makes the relationships again (050_api.sql).
DELETE FROM pgapp_private.sync_state WHERE step = 'api';

DROP FUNCTION IF EXISTS pgapp_private.plan_relationships(jsonb);
CREATE FUNCTION pgapp_private.plan_relationships(api jsonb)
RETURNS TABLE (name text, source text, target text, to_one boolean, body text, tables text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  c record;
  taken jsonb := '{}';
  named jsonb := '{}';
BEGIN
  -- A view's own columns are never relationship names.
  SELECT coalesce(jsonb_object_agg(x ->> 'name', (SELECT jsonb_agg(col ->> 'name') FROM jsonb_array_elements(x -> 't' -> 'columns') col)), '{}')
    INTO taken FROM jsonb_array_elements(api) x;
  FOR c IN
    WITH v AS (SELECT x ->> 'rel' AS rel, x ->> 'name' AS vname, x -> 't' AS t FROM jsonb_array_elements(api) x),
    fk AS (
      SELECT ch.rel AS child, pa.rel AS parent, ch.vname AS cv, pa.vname AS pv, k ->> 'name' AS conname,
             ARRAY(SELECT jsonb_array_elements_text(k -> 'columns')) AS ccols,
             ARRAY(SELECT jsonb_array_elements_text(k -> 'refColumns')) AS pcols
      FROM v ch CROSS JOIN LATERAL jsonb_array_elements(ch.t -> 'constraints') k
      JOIN v pa ON pa.rel = format('%s.%s', k ->> 'refSchema', k ->> 'refTable')
      WHERE k ->> 'kind' = 'f'),
    fk2 AS (
      SELECT fk.*, count(*) OVER (PARTITION BY child, parent) AS n,
             CASE WHEN cardinality(ccols) = 1 AND ccols[1] ~ '.._id$' THEN left(ccols[1], -3) END AS stem,
             -- The parent row of a child ($1), and the children of a parent ($1).
             format('SELECT * FROM api.%I WHERE %s', pv,
                    (SELECT string_agg(format('%I = $1.%I', p, ch), ' AND ') FROM unnest(pcols, ccols) AS u(p, ch))) AS one_body,
             format('SELECT * FROM api.%I WHERE %s', cv,
                    (SELECT string_agg(format('%I = $1.%I', ch, p), ' AND ') FROM unnest(pcols, ccols) AS u(p, ch))) AS many_body
      FROM fk),
    -- Junction tables: exactly two foreign keys, all their columns in the table's primary key.
    junction AS (
      SELECT j.rel, j.vname, a.parent AS a_rel, a.pv AS a_v, a.ccols AS a_cols, a.pcols AS a_ref,
             b.parent AS b_rel, b.pv AS b_v, b.ccols AS b_cols, b.pcols AS b_ref
      FROM v j
      JOIN fk a ON a.child = j.rel
      JOIN fk b ON b.child = j.rel AND b.conname > a.conname
      WHERE (SELECT count(*) FROM fk x WHERE x.child = j.rel) = 2
        AND a.parent <> b.parent
        AND ARRAY(SELECT jsonb_array_elements_text(j.t -> 'key')) @> (a.ccols || b.ccols)),
    -- Each junction both ways: from one side (s) through it to the other (t).
    m2m AS (
      SELECT rel, vname, a_rel, b_rel, side.*
      FROM junction,
           LATERAL (VALUES (a_v, a_rel, a_cols, a_ref, b_v, b_cols, b_ref),
                           (b_v, b_rel, b_cols, b_ref, a_v, a_cols, a_ref)) AS side(s_v, s_rel, s_cols, s_ref, t_v, t_cols, t_ref)),
    cand AS (
      -- to-one, by the column's stem
      SELECT cv AS source, pv AS target, true AS to_one, stem AS name, 1 AS prio, child || '/' || conname AS fk, 'one' AS dir,
             one_body AS body, ARRAY[child, parent] AS tables
      FROM fk2 WHERE stem IS NOT NULL
      UNION ALL
      -- to-one, by the parent's name (what PostgREST itself would call it)
      SELECT cv, pv, true, pv, 2, child || '/' || conname, 'one', one_body, ARRAY[child, parent]
      FROM fk2 WHERE n = 1 AND child <> parent
      UNION ALL
      -- to-one, by the constraint (only when nothing else named it)
      SELECT cv, pv, true, conname, 3, child || '/' || conname, 'one', one_body, ARRAY[child, parent]
      FROM fk2
      UNION ALL
      -- to-many
      SELECT pv, cv, false, CASE WHEN n = 1 THEN cv ELSE cv || '_by_' || coalesce(stem, conname) END, 1, child || '/' || conname, 'many',
             many_body, ARRAY[child, parent]
      FROM fk2
      UNION ALL
      SELECT pv, cv, false, cv || '_by_' || conname, 3, child || '/' || conname, 'many', many_body, ARRAY[child, parent]
      FROM fk2
      UNION ALL
      -- many-to-many
      SELECT s_v, t_v, false, t_v, 2, rel || '/m2m/' || s_rel, 'm2m',
             format('SELECT t.* FROM api.%I t WHERE EXISTS (SELECT 1 FROM api.%I j WHERE %s AND %s)', t_v, vname,
                    (SELECT string_agg(format('j.%I = t.%I', jc, r), ' AND ') FROM unnest(t_cols, t_ref) AS u(jc, r)),
                    (SELECT string_agg(format('j.%I = $1.%I', jc, r), ' AND ') FROM unnest(s_cols, s_ref) AS u(jc, r))),
             ARRAY[rel, a_rel, b_rel]
      FROM m2m
    )
    SELECT * FROM cand WHERE octet_length(cand.name) <= 63 ORDER BY cand.prio, cand.source, cand.name, cand.fk
  LOOP
    CONTINUE WHEN coalesce(taken -> c.source, '[]') ? c.name;
    -- A fallback name only for a foreign key nothing else named in that direction.
    CONTINUE WHEN c.prio = 3 AND named ? (c.fk || '/' || c.dir);
    taken := jsonb_set(taken, ARRAY[c.source], coalesce(taken -> c.source, '[]') || to_jsonb(c.name));
    named := named || jsonb_build_object(c.fk || '/' || c.dir, true);
    name := c.name;
    source := c.source;
    target := c.target;
    to_one := c.to_one;
    body := c.body;
    tables := c.tables;
    RETURN NEXT;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION pgapp_private.plan_relationships(jsonb) FROM PUBLIC;
