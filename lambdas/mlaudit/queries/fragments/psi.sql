-- The population stability index of a model's prediction_score, and of one numeric
-- feature when :feature names one, ending the query. Reads a CTE e (prediction_score,
-- features, copy_no, and in_baseline / in_current: whether the event falls in each
-- window) and :feature, :bins; one row per metric (metric, bins, baseline_count,
-- current_count, psi). Bins are equal-width over the baseline's min..max, values outside
-- clamp to the edge bins, an empty bin counts as a share of 0.0001. Included by drift_psi
-- and monitor_drift_psi, right after their e.
obs AS (
  SELECT 'prediction_score' AS metric, prediction_score AS value, in_baseline, in_current
  FROM e WHERE copy_no = 1
  UNION ALL
  SELECT 'feature' AS metric, TRY_CAST(json_extract_scalar(features, coalesce(:feature, '$.none')) AS DOUBLE) AS value,
    in_baseline, in_current
  -- coalesce gives the path a type when no feature is asked for (a bare NULL has none in Trino).
  FROM e WHERE copy_no = 1 AND features IS NOT NULL AND :feature IS NOT NULL
),
w AS (
  SELECT metric, value, 'baseline' AS window_name FROM obs WHERE value IS NOT NULL AND in_baseline
  UNION ALL
  SELECT metric, value, 'current' AS window_name FROM obs WHERE value IS NOT NULL AND in_current
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
