-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- rds's schemas on custom, from rds's catalog (030_catalog.sql): what its tables need, and the tables
-- themselves as foreign tables. Two steps, each one transaction, called by every `dev` (and by
-- compose's setup):
--   sync_types()           the extensions, schemas and types (enums, domains, composites, ranges)
--                          rds's tables use, with the same qualified names as on rds. Before the
--                          foreign tables: a new enum value must be committed before anything uses it.
--   sync_foreign_tables()  one foreign table per rds table, in rds_<schema>, brought in line with rds.

-- Read rds's catalog (one query over the bridge) and keep the copy the later steps of this run use.
CREATE OR REPLACE FUNCTION pgapp_private.read_catalog() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  d jsonb;
BEGIN
  SELECT doc INTO d FROM rds_bridge.catalog;
  INSERT INTO pgapp_private.catalog AS c (doc) VALUES (d)
  ON CONFLICT (one) DO UPDATE SET doc = excluded.doc, read_at = now();
  RETURN d;
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_types() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  d jsonb := pgapp_private.read_catalog();
  s text;
  e jsonb;
  tdef jsonb;
  q text;
  l text;
  prev text;
  have text[];
  pending jsonb[];
  progress boolean;
  errors text[];
  made text[] := '{}';
  changed text[] := '{}';
  own_schemas CONSTANT text[] := ARRAY['cron', 'rds_bridge', 'rds_replica', 'pgapp_private', 'pgapp_ledger', 'pgapp_bridge', 'information_schema'];
BEGIN
  FOR s IN SELECT jsonb_array_elements_text(d -> 'schemas') LOOP
    IF s = ANY (own_schemas) OR s LIKE 'rds\_%' OR s LIKE 'pg\_%' THEN
      RAISE EXCEPTION 'rds schema % cannot be bridged: custom keeps its own objects under that name', s
        USING HINT = 'Leave it out of "schemas" in pgapp.config.json, or rename it on rds.';
    END IF;
    IF octet_length(pgapp_private.foreign_schema(s)) > 63 THEN
      RAISE EXCEPTION 'rds schema % has too long a name to bridge (its foreign tables go to rds_<schema>, at most 63 bytes)', s
        USING HINT = 'Rename it on rds, or leave it out of "schemas".';
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', pgapp_private.foreign_schema(s));
    EXECUTE format('ALTER SCHEMA %I OWNER TO api_owner', pgapp_private.foreign_schema(s));
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', pgapp_private.foreign_schema(s));
  END LOOP;

  -- Extensions whose types rds's columns use (pgvector's vector, postgis's geometry, citext …), in
  -- the same schema as on rds so the types' names match.
  FOR e IN SELECT * FROM jsonb_array_elements(d -> 'extensions') LOOP
    SELECT n.nspname INTO s FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = e ->> 'name';
    IF NOT FOUND THEN
      IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = e ->> 'name') THEN
        RAISE EXCEPTION 'rds''s tables use extension %, which custom does not have', e ->> 'name'
          USING HINT = format('Add it to "extensions" in pgapp.config.json (e.g. "extensions": ["%s"]): pgapp installs it in both images, then run `pgapp dev` again.', e ->> 'name');
      END IF;
      EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', e ->> 'schema');
      EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I SCHEMA %I', e ->> 'name', e ->> 'schema');
      made := made || format('extension %s', e ->> 'name');
    ELSIF s <> e ->> 'schema' THEN
      RAISE EXCEPTION 'extension % is in schema % on rds but in % on custom: its types would not match', e ->> 'name', e ->> 'schema', s
        USING HINT = format('On custom: DROP EXTENSION %s, and let `pgapp dev` create it again.', e ->> 'name');
    END IF;
  END LOOP;

  -- Every schema the tables and types live in, with rds's name (the replica's tables go here too).
  FOR s IN SELECT DISTINCT x FROM (SELECT jsonb_array_elements_text(d -> 'schemas') x
                                   UNION SELECT y ->> 'schema' FROM jsonb_array_elements(d -> 'types') y) q LOOP
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO api_owner', s);
  END LOOP;

  -- Enums first (values rds added since go in at the same place), then the rest in dependency order.
  FOR tdef IN SELECT * FROM jsonb_array_elements(d -> 'types') x WHERE x ->> 'kind' = 'e' LOOP
    q := format('%I.%I', tdef ->> 'schema', tdef ->> 'name');
    IF to_regtype(q) IS NULL THEN
      EXECUTE format('CREATE TYPE %s AS ENUM (%s)', q,
                     (SELECT coalesce(string_agg(quote_literal(x), ', '), '') FROM jsonb_array_elements_text(tdef -> 'labels') x));
      made := made || q;
      CONTINUE;
    END IF;
    prev := NULL;
    FOR l IN SELECT jsonb_array_elements_text(tdef -> 'labels') LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = q::regtype AND enumlabel = l) THEN
        IF prev IS NULL THEN
          EXECUTE format('ALTER TYPE %s ADD VALUE %L BEFORE %L', q, l,
                         (SELECT enumlabel FROM pg_enum WHERE enumtypid = q::regtype ORDER BY enumsortorder LIMIT 1));
        ELSE
          EXECUTE format('ALTER TYPE %s ADD VALUE %L AFTER %L', q, l, prev);
        END IF;
        changed := changed || format('%s + %s', q, l);
      END IF;
      prev := l;
    END LOOP;
    SELECT array_agg(enumlabel::text ORDER BY enumsortorder) INTO have FROM pg_enum WHERE enumtypid = q::regtype;
    IF have IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(tdef -> 'labels')) THEN
      RAISE EXCEPTION 'enum % is (%) on rds but (%) on custom', q,
        (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(tdef -> 'labels') x), array_to_string(have, ', ')
        USING HINT = 'A value renamed or removed on rds cannot follow into custom''s copy: `pgapp reset` and `pgapp dev` build it again (reset deletes the stand-in''s data).';
    END IF;
  END LOOP;

  SELECT coalesce(array_agg(x), '{}') INTO pending FROM jsonb_array_elements(d -> 'types') x WHERE x ->> 'kind' <> 'e';
  LOOP
    progress := false;
    errors := '{}';
    FOR i IN 1 .. coalesce(array_length(pending, 1), 0) LOOP
      tdef := pending[i];
      CONTINUE WHEN tdef IS NULL;
      q := format('%I.%I', tdef ->> 'schema', tdef ->> 'name');
      BEGIN
        IF tdef ->> 'kind' = 'c' AND (tdef ->> 'table')::boolean THEN
          RAISE EXCEPTION 'a column of type % (the row type of a table) cannot be bridged', q
            USING HINT = 'Use a standalone composite type (CREATE TYPE … AS (…)) or jsonb for that column on rds.';
        ELSIF to_regtype(q) IS NULL THEN
          CASE tdef ->> 'kind'
            WHEN 'd' THEN
              EXECUTE format('CREATE DOMAIN %s AS %s%s%s%s', q, tdef ->> 'base',
                             CASE WHEN tdef ->> 'default' IS NOT NULL THEN ' DEFAULT ' || (tdef ->> 'default') ELSE '' END,
                             CASE WHEN (tdef ->> 'notNull')::boolean THEN ' NOT NULL' ELSE '' END,
                             (SELECT coalesce(string_agg(' ' || c, ''), '') FROM jsonb_array_elements_text(tdef -> 'checks') c));
            WHEN 'c' THEN
              EXECUTE format('CREATE TYPE %s AS (%s)', q,
                             (SELECT string_agg(format('%I %s', a ->> 'name', a ->> 'type'), ', ') FROM jsonb_array_elements(tdef -> 'attributes') a));
            WHEN 'r' THEN
              EXECUTE format('CREATE TYPE %s AS RANGE (subtype = %s)', q, tdef ->> 'subtype');
          END CASE;
          made := made || q;
        ELSIF tdef ->> 'kind' = 'd' THEN
          -- A domain's checks, NOT NULL and default follow rds's (its base type cannot change).
          IF format_type((SELECT typbasetype FROM pg_type WHERE oid = q::regtype), (SELECT typtypmod FROM pg_type WHERE oid = q::regtype)) <> tdef ->> 'base' THEN
            RAISE EXCEPTION 'domain % is over % on rds but over % on custom', q, tdef ->> 'base',
              format_type((SELECT typbasetype FROM pg_type WHERE oid = q::regtype), (SELECT typtypmod FROM pg_type WHERE oid = q::regtype))
              USING HINT = 'A domain''s base type cannot follow into custom''s copy: `pgapp reset` and `pgapp dev` build it again.';
          END IF;
          FOR l IN SELECT co.conname FROM pg_constraint co WHERE co.contypid = q::regtype AND co.contype = 'c'
                     AND pg_get_constraintdef(co.oid) NOT IN (SELECT jsonb_array_elements_text(tdef -> 'checks')) LOOP
            EXECUTE format('ALTER DOMAIN %s DROP CONSTRAINT %I', q, l);
            changed := changed || q;
          END LOOP;
          FOR l IN SELECT c FROM jsonb_array_elements_text(tdef -> 'checks') c
                   WHERE c NOT IN (SELECT pg_get_constraintdef(co.oid) FROM pg_constraint co WHERE co.contypid = q::regtype AND co.contype = 'c') LOOP
            EXECUTE format('ALTER DOMAIN %s ADD %s', q, l);
            changed := changed || q;
          END LOOP;
          IF (SELECT typnotnull FROM pg_type WHERE oid = q::regtype) <> (tdef ->> 'notNull')::boolean THEN
            EXECUTE format('ALTER DOMAIN %s %s NOT NULL', q, CASE WHEN (tdef ->> 'notNull')::boolean THEN 'SET' ELSE 'DROP' END);
            changed := changed || q;
          END IF;
          IF (SELECT typdefault FROM pg_type WHERE oid = q::regtype) IS DISTINCT FROM tdef ->> 'default' THEN
            EXECUTE CASE WHEN tdef ->> 'default' IS NULL THEN format('ALTER DOMAIN %s DROP DEFAULT', q)
                         ELSE format('ALTER DOMAIN %s SET DEFAULT %s', q, tdef ->> 'default') END;
            changed := changed || q;
          END IF;
        ELSIF tdef ->> 'kind' = 'c' THEN
          -- Attributes rds added.
          FOR l IN SELECT format('%I %s', a ->> 'name', a ->> 'type') FROM jsonb_array_elements(tdef -> 'attributes') a
                   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = (SELECT typrelid FROM pg_type WHERE oid = q::regtype)
                                     AND x.attname = a ->> 'name' AND NOT x.attisdropped) LOOP
            EXECUTE format('ALTER TYPE %s ADD ATTRIBUTE %s', q, l);
            changed := changed || q;
          END LOOP;
        END IF;
        pending[i] := NULL;
        progress := true;
      EXCEPTION WHEN undefined_object THEN
        -- Built on a type not made yet: the next round.
        errors := errors || format('%s: %s', q, SQLERRM);
      END;
    END LOOP;
    EXIT WHEN NOT progress OR (SELECT count(*) FROM unnest(pending) p WHERE p IS NOT NULL) = 0;
  END LOOP;
  IF (SELECT count(*) FROM unnest(pending) p WHERE p IS NOT NULL) > 0 THEN
    RAISE EXCEPTION 'custom cannot make the types rds''s tables use: %', array_to_string(errors, '; ')
      USING HINT = 'A type built on an extension''s type needs that extension: add it to "extensions" in pgapp.config.json.';
  END IF;
  RETURN jsonb_build_object('schemas', d -> 'schemas', 'made', to_jsonb(made), 'changed', to_jsonb(ARRAY(SELECT DISTINCT unnest(changed))));
END $$;

-- One column of a foreign table: its name, type and NOT NULL, as on rds. Nothing writes through a
-- foreign table (every write goes to rds in one statement, custom/api/020_write_through.sql); one is
-- read as it is, or as the inheritance child of its table on custom (bridge/050_tables.sql), whose
-- columns it matches.
CREATE OR REPLACE FUNCTION pgapp_private.foreign_column(c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT format('%I %s', c ->> 'name', c ->> 'type') || CASE WHEN (c ->> 'notNull')::boolean THEN ' NOT NULL' ELSE '' END
$$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_foreign_tables() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t record;
  c jsonb;
  ft text;
  here record;
  made text[] := '{}';
  changed text[] := '{}';
  gone text[] := '{}';
  released boolean;
  parent regclass;
BEGIN
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() LOOP
    ft := pgapp_private.foreign_table(t.def);
    IF to_regclass(ft) IS NULL THEN
      EXECUTE format('CREATE FOREIGN TABLE %s (%s) SERVER rds OPTIONS (schema_name %L, table_name %L)', ft,
                     (SELECT string_agg(pgapp_private.foreign_column(x), ', ') FROM jsonb_array_elements(t.def -> 'columns') x),
                     t.schema, t.name);
      EXECUTE format('ALTER FOREIGN TABLE %s OWNER TO api_owner', ft);
      PERFORM pgapp_private.remember('foreign table ' || ft, 'foreign table', ARRAY[t.rel], '');
      -- Local statistics, so plans (and PostgREST's count=planned) know the remote size.
      EXECUTE format('ANALYZE %s', ft);
      made := made || t.rel;
      CONTINUE;
    END IF;
    PERFORM pgapp_private.remember('foreign table ' || ft, 'foreign table', ARRAY[t.rel], '');
    released := false;
    parent := (SELECT i.inhparent::regclass FROM pg_inherits i WHERE i.inhrelid = ft::regclass);
    -- Columns rds dropped, or that changed how they are filled or their type: the api objects made
    -- from this table go first (sync_api makes them again), then the column is dropped and made again.
    FOR here IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attgenerated <> '' AS assigned,
                       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS expr
                FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                WHERE a.attrelid = ft::regclass AND a.attnum > 0 AND NOT a.attisdropped LOOP
      SELECT x INTO c FROM jsonb_array_elements(t.def -> 'columns') x WHERE x ->> 'name' = here.attname;
      -- A generated column is what an earlier pgapp declared for what rds fills: a plain column now
      -- (in place: what your own SQL on custom made over it stays).
      IF c IS NOT NULL AND here.type = c ->> 'type' AND here.assigned THEN
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP EXPRESSION', ft, here.attname);
        here.assigned := false;
      END IF;
      IF c IS NULL OR here.type <> c ->> 'type' THEN
        IF NOT released THEN
          PERFORM pgapp_private.release(ARRAY[t.rel]);
          released := true;
        END IF;
        -- Its table on custom is made again to match (bridge/050_tables.sql), and adopts it again.
        IF parent IS NOT NULL THEN
          EXECUTE format('ALTER FOREIGN TABLE %s NO INHERIT %s', ft, parent);
          parent := NULL;
        END IF;
        BEGIN
          EXECUTE format('ALTER FOREIGN TABLE %s DROP COLUMN %I', ft, here.attname);
        EXCEPTION WHEN dependent_objects_still_exist THEN
          DECLARE
            detail text;
          BEGIN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION '%.% changed on rds, but something on custom still uses it', t.rel, here.attname
              USING DETAIL = detail,
                    HINT = 'Change or drop that object in your SQL (db/custom) first, then run `pgapp dev` again. Nothing was changed.';
          END;
        END;
        changed := changed || format('%s.%s', t.rel, here.attname);
      ELSE
        IF here.attnotnull <> (c ->> 'notNull')::boolean THEN
          IF parent IS NOT NULL THEN
            EXECUTE format('ALTER FOREIGN TABLE %s NO INHERIT %s', ft, parent);
            parent := NULL;
          END IF;
          EXECUTE format('ALTER FOREIGN TABLE %s ALTER COLUMN %I %s NOT NULL', ft, here.attname,
                         CASE WHEN (c ->> 'notNull')::boolean THEN 'SET' ELSE 'DROP' END);
          changed := changed || format('%s.%s', t.rel, here.attname);
        END IF;
        IF here.expr IS NOT NULL THEN
          EXECUTE format('ALTER FOREIGN TABLE %s ALTER COLUMN %I DROP DEFAULT', ft, here.attname);
        END IF;
      END IF;
    END LOOP;
    -- Columns rds added (or that were dropped above to be made again).
    IF parent IS NOT NULL AND EXISTS (SELECT 1 FROM jsonb_array_elements(t.def -> 'columns') x
                                      WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ft::regclass AND a.attname = x ->> 'name' AND NOT a.attisdropped)) THEN
      EXECUTE format('ALTER FOREIGN TABLE %s NO INHERIT %s', ft, parent);
    END IF;
    FOR c IN SELECT x FROM jsonb_array_elements(t.def -> 'columns') x
             WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ft::regclass AND a.attname = x ->> 'name' AND NOT a.attisdropped) LOOP
      EXECUTE format('ALTER FOREIGN TABLE %s ADD COLUMN %s', ft, pgapp_private.foreign_column(c));
      changed := changed || format('%s.%s', t.rel, c ->> 'name');
    END LOOP;
  END LOOP;

  -- Tables gone from rds (or from the bridged schemas): what the api made from them, then the foreign table.
  FOR here IN SELECT g.object, g.tables FROM pgapp_private.generated g
              WHERE g.kind = 'foreign table' AND NOT g.tables && ARRAY(SELECT rel FROM pgapp_private.catalog_tables()) LOOP
    PERFORM pgapp_private.release(here.tables);
    PERFORM pgapp_private.drop_generated(here.object);
    gone := gone || here.tables;
  END LOOP;
  RETURN jsonb_build_object('tables', (SELECT count(*) FROM pgapp_private.catalog_tables()),
                            'made', to_jsonb(made), 'changed', to_jsonb(changed), 'gone', to_jsonb(gone));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.read_catalog(), pgapp_private.sync_types(), pgapp_private.foreign_column(jsonb),
  pgapp_private.sync_foreign_tables() FROM PUBLIC;
