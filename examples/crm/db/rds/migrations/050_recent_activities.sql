-- "Latest activities" (the app page, GET /activities?order=occurred_at.desc,id.desc&limit=10) is an
-- ordered top-N: without an index on the order, Postgres sorts every activity, and PostgREST joins
-- each row's embedded contact before the limit (0.67 s at 100k contacts; BENCHMARKS.md, app page note).
-- With it: ten index entries, then ten contacts. The local replica copies the index.
CREATE INDEX activities_recent_idx ON crm.activities (occurred_at DESC, id DESC);
