-- description: A model's data-quality violation rate in a time window on occurred_at (half-open): the share of its events (of one type, or every type but the monitors' own evaluations) that broke a rule (any rule, or the one named). What the DQ-rate monitors evaluate. The rate is NULL when the window has no events.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC) to read: the day the window starts.
-- param: to_date date required | Last event_date (UTC) to read: the day the window ends.
-- param: window_from timestamp required | Start of the window (occurred_at, UTC, inclusive).
-- param: window_to timestamp required | End of the window (exclusive).
-- param: model_id string required max_length=128 | The model.
-- param: rule_id string optional max_length=128 | Only violations of this rule.
-- param: event_type string optional pattern=[a-z_]{1,32} | Only events of this type.
-- range: from_date to_date max_days=31
-- column: events integer | The model's events in the window.
-- column: violating_events integer | Of which broke the rule (any rule without rule_id).
-- column: violation_rate double
WITH d AS (
  SELECT
    event_id, dq_violations, occurred_at,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND model_id = :model_id
    AND (:event_type IS NULL OR event_type = :event_type)
    -- the monitors' own evaluations carry the model id; they are not the model's data
    AND NOT (event_type = 'audit_access' AND coalesce(action, '') = 'monitor')
),
e AS (
  SELECT event_id, dq_violations FROM d
  WHERE copy_no = 1
    AND occurred_at >= CAST(:window_from AS TIMESTAMP) AND occurred_at < CAST(:window_to AS TIMESTAMP)
),
totals AS (
  SELECT count(*) AS events FROM e
),
bad AS (
  SELECT count(DISTINCT e.event_id) AS violating
  FROM e CROSS JOIN UNNEST(e.dq_violations) AS v(rule_id)
  WHERE :rule_id IS NULL OR v.rule_id = :rule_id
)
SELECT
  t.events,
  b.violating AS violating_events,
  CAST(b.violating AS DOUBLE) / nullif(t.events, 0) AS violation_rate
FROM totals t CROSS JOIN bad b
ORDER BY t.events
