-- description: Accuracy, precision and recall per model version, joining ground-truth labels (label_for_prediction_id, true_label) to predictions (prediction_id, prediction_label) that both arrived in the range. When a prediction has several labels, the latest received wins (a correction).
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive, for predictions and labels.
-- param: to_date date required | Last event_date (UTC), inclusive, for predictions and labels.
-- param: positive_label string required max_length=256 | The positive class, for precision and recall.
-- param: model_id string optional max_length=128 | Only this model.
-- range: from_date to_date max_days=92
-- event_types: prediction ground_truth
-- column: model_id string
-- column: model_version string
-- column: labeled integer | Predictions with a label.
-- column: true_positives integer
-- column: false_positives integer
-- column: false_negatives integer
-- column: accuracy double
-- column: precision double | NULL when nothing was predicted positive.
-- column: recall double | NULL when no label was positive.
WITH e AS (
  SELECT
    event_type, received_at, model_id, model_version, prediction_id, prediction_label,
    label_for_prediction_id, true_label,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type IN ('prediction', 'ground_truth')
),
p AS (
  SELECT model_id, model_version, prediction_id, prediction_label
  FROM e
  WHERE copy_no = 1 AND event_type = 'prediction' AND prediction_id IS NOT NULL
    AND (:model_id IS NULL OR model_id = :model_id)
),
l AS (
  SELECT label_for_prediction_id, true_label,
    row_number() OVER (PARTITION BY label_for_prediction_id ORDER BY received_at DESC, true_label DESC) AS label_no
  FROM e
  WHERE copy_no = 1 AND event_type = 'ground_truth' AND label_for_prediction_id IS NOT NULL
),
j AS (
  SELECT
    p.model_id, p.model_version,
    CASE WHEN p.prediction_label = l.true_label THEN 1 ELSE 0 END AS correct,
    CASE WHEN p.prediction_label = :positive_label AND l.true_label = :positive_label THEN 1 ELSE 0 END AS tp,
    CASE WHEN p.prediction_label = :positive_label AND l.true_label <> :positive_label THEN 1 ELSE 0 END AS fp,
    CASE WHEN p.prediction_label <> :positive_label AND l.true_label = :positive_label THEN 1 ELSE 0 END AS fn
  FROM p JOIN l ON l.label_for_prediction_id = p.prediction_id AND l.label_no = 1
)
SELECT
  model_id,
  model_version,
  count(*) AS labeled,
  sum(tp) AS true_positives,
  sum(fp) AS false_positives,
  sum(fn) AS false_negatives,
  CAST(sum(correct) AS DOUBLE) / count(*) AS accuracy,
  CAST(sum(tp) AS DOUBLE) / nullif(sum(tp) + sum(fp), 0) AS precision,
  CAST(sum(tp) AS DOUBLE) / nullif(sum(tp) + sum(fn), 0) AS recall
FROM j
GROUP BY model_id, model_version
ORDER BY model_id NULLS LAST, model_version NULLS LAST
