-- description: Drift of a model's prediction_score, and optionally of one numeric feature, as the population stability index (PSI) of a current window against a baseline window. Bins are equal-width over the baseline's range (values outside clamp to the edge bins); an empty bin counts as a share of 0.0001. PSI is NULL when a window has no values.
-- roles: analyst auditor
-- param: baseline_from_date date required | First event_date of the baseline (UTC).
-- param: baseline_to_date date required | Last event_date of the baseline (UTC).
-- param: current_from_date date required | First event_date of the current window (UTC).
-- param: current_to_date date required | Last event_date of the current window (UTC).
-- param: model_id string required max_length=128 | The model.
-- param: model_version string optional max_length=64 | Only this version.
-- param: feature string optional pattern=\$\.[A-Za-z_][A-Za-z0-9_]{0,63} | A numeric feature as a JSON path into features, such as $.age.
-- param: bins integer optional default=10 min=2 max=50 | Number of bins.
-- range: baseline_from_date baseline_to_date max_days=92
-- range: current_from_date current_to_date max_days=92
-- event_types: prediction
-- column: metric string | prediction_score, or feature for the chosen feature.
-- column: bins integer
-- column: baseline_count integer
-- column: current_count integer
-- column: psi double
WITH e AS (
  SELECT
    event_date, prediction_score, features,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE (
      event_date BETWEEN :baseline_from_date AND :baseline_to_date
      OR event_date BETWEEN :current_from_date AND :current_to_date
    )
    AND event_type = 'prediction'
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
),
obs AS (
  SELECT 'prediction_score' AS metric, prediction_score AS value, event_date
  FROM e WHERE copy_no = 1
  UNION ALL
  SELECT 'feature' AS metric, TRY_CAST(json_extract_scalar(features, coalesce(:feature, '$.none')) AS DOUBLE) AS value, event_date
  -- coalesce gives the path a type when no feature is asked for (a bare NULL has none in Trino).
  FROM e WHERE copy_no = 1 AND features IS NOT NULL AND :feature IS NOT NULL
),
w AS (
  SELECT metric, value, 'baseline' AS window_name FROM obs
  WHERE value IS NOT NULL AND event_date BETWEEN :baseline_from_date AND :baseline_to_date
  UNION ALL
  SELECT metric, value, 'current' AS window_name FROM obs
  WHERE value IS NOT NULL AND event_date BETWEEN :current_from_date AND :current_to_date
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
