// The tests read bigint (int8) columns as numbers, as pgapp's own clients do (src/db/connect.ts's
// PG_TYPES, per client). Here, in the test process only, for the tests' own pg clients.
import pg from 'pg';

pg.types.setTypeParser(20, (v) => Number(v));
