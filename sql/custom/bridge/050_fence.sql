-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- rds's read-your-writes fence (rds-bridge/010_next_ids.sql) as a foreign table: an API write bumps
-- it in the same rds transaction (custom/api/040_replica.sql).
DROP FOREIGN TABLE IF EXISTS rds_bridge.replica_fence;
IMPORT FOREIGN SCHEMA pgapp_bridge LIMIT TO (replica_fence) FROM SERVER rds INTO rds_bridge;
ALTER FOREIGN TABLE rds_bridge.replica_fence OWNER TO api_owner;
