-- description: Prediction volume and latency percentiles (p50, p95, p99) per model version and hour of occurred_at (UTC). Athena's approx_percentile is an estimate; the local engine computes exact nearest-rank percentiles (docs/queries.md).
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: model_id string optional max_length=128 | Only this model.
-- range: from_date to_date max_days=92
-- event_types: prediction
-- column: model_id string
-- column: model_version string
-- column: hour timestamp | Start of the hour (UTC).
-- column: predictions integer
-- column: avg_latency_ms double
-- column: p50_latency_ms double
-- column: p95_latency_ms double
-- column: p99_latency_ms double
WITH e AS (
  SELECT
    model_id, model_version, occurred_at, latency_ms,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type = 'prediction'
    AND (:model_id IS NULL OR model_id = :model_id)
)
SELECT
  model_id,
  model_version,
  date_trunc('hour', occurred_at) AS hour,
  count(*) AS predictions,
  avg(latency_ms) AS avg_latency_ms,
  approx_percentile(latency_ms, 0.5) AS p50_latency_ms,
  approx_percentile(latency_ms, 0.95) AS p95_latency_ms,
  approx_percentile(latency_ms, 0.99) AS p99_latency_ms
FROM e
WHERE copy_no = 1
GROUP BY model_id, model_version, date_trunc('hour', occurred_at)
ORDER BY model_id NULLS LAST, model_version NULLS LAST, hour
