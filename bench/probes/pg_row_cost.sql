-- What one scoring write of 1,000 rows costs PostgreSQL, and why (docs/performance.md,
-- "Where PostgreSQL's time goes"). Read-only in effect: everything runs in one transaction
-- that is rolled back. Needs a migrated database holding at least 1,000 transactions, e.g.
-- the pipeline benchmark's:
--
--   psql "$DATABASE_URL" -f bench/probes/pg_row_cost.sql
--
-- Each step prints its time (\timing). The steps, in order:
--  1. copy 1,000 existing rows as new pending ones (what ingestion inserts);
--  2. the scoring write as the worker does it: status, score, level, reasons, the features
--     JSON of a scored row, scored_at;
--  3. the same rows' status alone: costs as much as step 2 (a new row version either way);
--  4. a column no index reads: still as much (no HOT update: the pages are full);
--  5. the same results inserted into a narrow table of their own (primary key only);
--  6. step 3 again with only the primary key and external_id indexes left.
\timing on
BEGIN;
CREATE TEMP TABLE probe_rows ON COMMIT DROP AS
  SELECT * FROM scoring_transaction ORDER BY id DESC LIMIT 1000;
UPDATE probe_rows SET id = -id, external_id = 'probe-' || id, status = 'pending',
  features = '{}', reasons = '[]', risk_score = NULL, risk_level = '', scored_at = NULL;
SELECT coalesce((SELECT features FROM scoring_transaction WHERE status = 'scored' LIMIT 1),
                '{}') AS scored_features \gset
\echo 1. insert 1,000 pending rows
INSERT INTO scoring_transaction SELECT * FROM probe_rows;
\echo 2. the scoring write
UPDATE scoring_transaction t SET status = 'scored', risk_score = 0.1, risk_level = 'low',
  reasons = '[]', features = :'scored_features', scored_at = now()
  FROM probe_rows p WHERE t.id = p.id;
\echo 3. status alone
UPDATE scoring_transaction t SET status = 'pending' FROM probe_rows p WHERE t.id = p.id;
\echo 4. a column no index reads
UPDATE scoring_transaction t SET scoring_attempts = t.scoring_attempts + 1
  FROM probe_rows p WHERE t.id = p.id;
-- A regular (logged) table, as the real one would be; gone with the rollback.
CREATE TABLE probe_scores (transaction_id bigint PRIMARY KEY, risk_score float8,
  risk_level varchar(16), reasons jsonb, features jsonb, scored_at timestamptz);
\echo 5. the results into a narrow table of their own
INSERT INTO probe_scores SELECT id, 0.1, 'low', '[]', :'scored_features', now() FROM probe_rows;
SELECT string_agg(quote_ident(indexname), ', ') AS other_indexes FROM pg_indexes
  WHERE tablename = 'scoring_transaction'
  AND indexname NOT IN ('scoring_transaction_pkey', 'scoring_transaction_external_id_key') \gset
DROP INDEX :other_indexes;
\echo 6. status alone, with only the primary key and external_id indexes
UPDATE scoring_transaction t SET status = 'scored' FROM probe_rows p WHERE t.id = p.id;
\echo row sizes: pending, and scored (with its features JSON)
SELECT status, count(*) AS rows, avg(pg_column_size(t.*))::int AS row_bytes,
  avg(pg_column_size(features))::int AS features_bytes
  FROM ((SELECT * FROM scoring_transaction WHERE status = 'pending' LIMIT 10000)
        UNION ALL (SELECT * FROM scoring_transaction WHERE status = 'scored' LIMIT 10000)) t
  GROUP BY status;
ROLLBACK;
