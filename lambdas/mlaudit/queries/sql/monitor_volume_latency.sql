-- description: A model's predictions in a time window on occurred_at (half-open) and their p99 latency: what the volume and latency monitors evaluate. Athena's approx_percentile is an estimate; the local engine computes the exact nearest-rank percentile (docs/queries.md). p99 is NULL without latencies.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC) to read: the day the window starts.
-- param: to_date date required | Last event_date (UTC) to read: the day the window ends.
-- param: window_from timestamp required | Start of the window (occurred_at, UTC, inclusive).
-- param: window_to timestamp required | End of the window (exclusive).
-- param: model_id string required max_length=128 | The model.
-- param: model_version string optional max_length=64 | Only this version.
-- range: from_date to_date max_days=31
-- event_types: prediction
-- column: predictions integer | Predictions in the window.
-- column: p99_latency_ms double
WITH d AS (
  SELECT
    occurred_at, latency_ms,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type = 'prediction'
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
)
SELECT
  count(*) AS predictions,
  approx_percentile(latency_ms, 0.99) AS p99_latency_ms
FROM d
WHERE copy_no = 1
  AND occurred_at >= CAST(:window_from AS TIMESTAMP) AND occurred_at < CAST(:window_to AS TIMESTAMP)
ORDER BY predictions
