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
    prediction_score, features,
    event_date BETWEEN :baseline_from_date AND :baseline_to_date AS in_baseline,
    event_date BETWEEN :current_from_date AND :current_to_date AS in_current,
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
-- include: psi
