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
    prediction_score, features,
    occurred_at >= CAST(:baseline_from AS TIMESTAMP) AND occurred_at < CAST(:baseline_to AS TIMESTAMP) AS in_baseline,
    occurred_at >= CAST(:current_from AS TIMESTAMP) AND occurred_at < CAST(:current_to AS TIMESTAMP) AS in_current,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type = 'prediction'
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
),
-- include: psi
