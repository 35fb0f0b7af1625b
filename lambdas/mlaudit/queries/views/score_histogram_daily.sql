-- description: QuickSight dataset for drift dashboards - the daily distribution of each model version's prediction_score in ten buckets of width 0.1 over [0, 1] (scores outside clamp to the edge buckets). Compare a day's shares with a baseline's; the drift_psi query gives the PSI itself.
-- column: event_date string | Partition (UTC date of receipt); filter on it.
-- column: model_id string
-- column: model_version string
-- column: bucket double | 0 to 9; bucket k holds scores in [k/10, (k+1)/10).
-- column: predictions integer
WITH e AS (
  SELECT
    event_date, model_id, model_version, prediction_score,
    row_number() OVER (PARTITION BY event_date, event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_type = 'prediction' AND prediction_score IS NOT NULL
)
SELECT
  event_date, model_id, model_version,
  least(greatest(floor(prediction_score * 10), CAST(0 AS DOUBLE)), CAST(9 AS DOUBLE)) AS bucket,
  count(*) AS predictions
FROM e
WHERE copy_no = 1
GROUP BY event_date, model_id, model_version, least(greatest(floor(prediction_score * 10), CAST(0 AS DOUBLE)), CAST(9 AS DOUBLE))
