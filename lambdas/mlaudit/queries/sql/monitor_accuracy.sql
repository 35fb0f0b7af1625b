-- description: Accuracy of a model's predictions made in a time window on occurred_at (half-open), from the ground-truth labels that arrived by the end of the range: what the accuracy monitors evaluate. When a prediction has several labels, the latest received wins (a correction). Accuracy is NULL when no prediction of the window has a label.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC) to read: the day the window starts.
-- param: to_date date required | Last event_date (UTC) to read, for predictions and labels.
-- param: window_from timestamp required | Start of the window (occurred_at of the predictions, UTC, inclusive).
-- param: window_to timestamp required | End of the window (exclusive).
-- param: model_id string required max_length=128 | The model.
-- param: model_version string optional max_length=64 | Only this version.
-- range: from_date to_date max_days=31
-- event_types: prediction ground_truth
-- column: labeled integer | Predictions of the window with a label.
-- column: accuracy double
WITH e AS (
  SELECT
    event_type, received_at, occurred_at, model_id, model_version, prediction_id, prediction_label,
    label_for_prediction_id, true_label,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type IN ('prediction', 'ground_truth')
),
p AS (
  SELECT prediction_id, prediction_label
  FROM e
  WHERE copy_no = 1 AND event_type = 'prediction' AND prediction_id IS NOT NULL
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
    AND occurred_at >= CAST(:window_from AS TIMESTAMP) AND occurred_at < CAST(:window_to AS TIMESTAMP)
),
l AS (
  SELECT label_for_prediction_id, true_label,
    row_number() OVER (PARTITION BY label_for_prediction_id ORDER BY received_at DESC, true_label DESC) AS label_no
  FROM e
  WHERE copy_no = 1 AND event_type = 'ground_truth' AND label_for_prediction_id IS NOT NULL
),
j AS (
  SELECT CASE WHEN p.prediction_label = l.true_label THEN 1 ELSE 0 END AS correct
  FROM p JOIN l ON l.label_for_prediction_id = p.prediction_id AND l.label_no = 1
)
SELECT
  count(*) AS labeled,
  CAST(sum(correct) AS DOUBLE) / nullif(count(*), 0) AS accuracy
FROM j
ORDER BY labeled
