-- description: Each monitor's latest evaluation in the range (the monitors function records every evaluation as an audit_access event, action monitor): its model, state (OK, ALARM or INSUFFICIENT_DATA), value, threshold and time.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: model_id string optional max_length=128 | Only this model's monitors.
-- range: from_date to_date max_days=92
-- event_types: audit_access
-- column: monitor string | The monitor's name in the monitors file.
-- column: model_id string
-- column: state string | OK, ALARM or INSUFFICIENT_DATA.
-- column: value double | What the monitor measured (NULL: insufficient data).
-- column: threshold double
-- column: evaluated_at timestamp | When it was evaluated (the report's Monitors panel).
WITH m AS (
  SELECT
    resource, model_id, occurred_at, metrics,
    row_number() OVER (PARTITION BY model_id, resource ORDER BY occurred_at DESC, received_at DESC, leaf_hash) AS newest
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type = 'audit_access'
    AND action = 'monitor'
    AND (:model_id IS NULL OR model_id = :model_id)
)
SELECT
  substr(resource, 9) AS monitor,
  model_id,
  CASE TRY_CAST(json_extract_scalar(metrics, '$.state_code') AS INTEGER)
    WHEN 0 THEN 'OK' WHEN 1 THEN 'ALARM' ELSE 'INSUFFICIENT_DATA'
  END AS state,
  TRY_CAST(json_extract_scalar(metrics, '$.value') AS DOUBLE) AS value,
  TRY_CAST(json_extract_scalar(metrics, '$.threshold') AS DOUBLE) AS threshold,
  occurred_at AS evaluated_at
FROM m
WHERE newest = 1
ORDER BY model_id, monitor
