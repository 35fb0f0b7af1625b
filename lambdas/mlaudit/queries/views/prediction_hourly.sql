-- description: QuickSight dataset for volume and latency dashboards - predictions and latency (avg, p50, p95, p99) per model version and hour. Filter on event_date in QuickSight so Athena prunes partitions.
-- column: event_date string | Partition (UTC date of receipt); filter on it.
-- column: model_id string
-- column: model_version string
-- column: hour timestamp | Start of the hour of occurred_at (UTC).
-- column: predictions integer
-- column: avg_latency_ms double
-- column: p50_latency_ms double
-- column: p95_latency_ms double
-- column: p99_latency_ms double
WITH e AS (
  SELECT
    event_date, model_id, model_version, occurred_at, latency_ms,
    -- Copies of one event share a day except across midnight; partitioning by day keeps
    -- QuickSight's event_date filter pushed down to the partitions.
    row_number() OVER (PARTITION BY event_date, event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_type = 'prediction'
)
SELECT
  event_date, model_id, model_version,
  date_trunc('hour', occurred_at) AS hour,
  count(*) AS predictions,
  avg(latency_ms) AS avg_latency_ms,
  approx_percentile(latency_ms, 0.5) AS p50_latency_ms,
  approx_percentile(latency_ms, 0.95) AS p95_latency_ms,
  approx_percentile(latency_ms, 0.99) AS p99_latency_ms
FROM e
WHERE copy_no = 1
GROUP BY event_date, model_id, model_version, date_trunc('hour', occurred_at)
