-- description: Drift of a model's prediction_score, and optionally of one numeric feature, as the population stability index (PSI) of a current time window against a baseline time window, both on occurred_at (half-open: from inclusive, to exclusive). What the drift monitors evaluate. Bins are equal-width over the baseline's range (values outside clamp to the edge bins); an empty bin counts as a share of 0.0001. PSI is NULL when the current window has no values.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC) to read: the day the baseline starts.
-- param: to_date date required | Last event_date (UTC) to read: the day the current window ends.
-- param: baseline_from timestamp required | Start of the baseline window (occurred_at, UTC, inclusive).
-- param: baseline_to timestamp required | End of the baseline window (exclusive).
-- param: current_from timestamp required | Start of the current window (inclusive).
-- param: current_to timestamp required | End of the current window (exclusive).
-- param: model_id string required max_length=128 | The model.
-- param: model_version string optional max_length=64 | Only this version.
-- param: feature string optional pattern=\$\.[A-Za-z_][A-Za-z0-9_]{0,63} | A numeric feature as a JSON path into features, such as $.age.
-- param: bins integer optional default=10 min=2 max=50 | Number of bins.
-- range: from_date to_date max_days=31
-- event_types: prediction
-- column: metric string | prediction_score, or feature for the chosen feature.
-- column: bins integer
-- column: baseline_count integer
-- column: current_count integer
-- column: psi double
WITH e AS (
  SELECT
    occurred_at, prediction_score, features,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type = 'prediction'
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
),
obs AS (
  SELECT 'prediction_score' AS metric, prediction_score AS value, occurred_at
  FROM e WHERE copy_no = 1
  UNION ALL
  SELECT 'feature' AS metric, TRY_CAST(json_extract_scalar(features, coalesce(:feature, '$.none')) AS DOUBLE) AS value, occurred_at
  -- coalesce gives the path a type when no feature is asked for (a bare NULL has none in Trino).
  FROM e WHERE copy_no = 1 AND features IS NOT NULL AND :feature IS NOT NULL
),
w AS (
  SELECT metric, value, 'baseline' AS window_name FROM obs
  WHERE value IS NOT NULL
    AND occurred_at >= CAST(:baseline_from AS TIMESTAMP) AND occurred_at < CAST(:baseline_to AS TIMESTAMP)
  UNION ALL
  SELECT metric, value, 'current' AS window_name FROM obs
  WHERE value IS NOT NULL
    AND occurred_at >= CAST(:current_from AS TIMESTAMP) AND occurred_at < CAST(:current_to AS TIMESTAMP)
),
bounds AS (
  SELECT metric, min(value) AS lo, max(value) AS hi
  FROM w WHERE window_name = 'baseline' GROUP BY metric
),
binned AS (
  SELECT
    w.metric,
    w.window_name,
    CASE
      WHEN b.hi = b.lo THEN CAST(0 AS DOUBLE)
      ELSE least(greatest(floor((w.value - b.lo) / CAST(b.hi - b.lo AS DOUBLE) * :bins), CAST(0 AS DOUBLE)), CAST(:bins - 1 AS DOUBLE))
    END AS bin
  FROM w JOIN bounds b ON w.metric = b.metric
),
counts AS (
  SELECT metric, bin,
    count_if(window_name = 'baseline') AS b,
    count_if(window_name = 'current') AS c
  FROM binned GROUP BY metric, bin
),
totals AS (
  SELECT metric, sum(b) AS bn, sum(c) AS cn FROM counts GROUP BY metric
),
shares AS (
  SELECT
    counts.metric,
    greatest(CAST(counts.b AS DOUBLE) / nullif(t.bn, 0), CAST(0.0001 AS DOUBLE)) AS p,
    greatest(CAST(counts.c AS DOUBLE) / nullif(t.cn, 0), CAST(0.0001 AS DOUBLE)) AS q
  FROM counts JOIN totals t ON counts.metric = t.metric
)
SELECT
  t.metric,
  :bins AS bins,
  t.bn AS baseline_count,
  t.cn AS current_count,
  (SELECT sum((s.q - s.p) * ln(s.q / CAST(s.p AS DOUBLE))) FROM shares s WHERE s.metric = t.metric) AS psi
FROM totals t
ORDER BY t.metric DESC
