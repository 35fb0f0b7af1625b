-- description: Data-quality violation rate per rule, dataset and model: the share of the group's events that broke the rule.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: dataset_id string optional max_length=256 | Only this dataset.
-- param: model_id string optional max_length=128 | Only this model.
-- range: from_date to_date max_days=92
-- column: rule_id string
-- column: dataset_id string
-- column: model_id string
-- column: events integer | Events of the dataset and model in the range.
-- column: violating_events integer | Of which broke the rule.
-- column: violation_rate double
WITH d AS (
  SELECT
    event_id, dataset_id, model_id, dq_violations,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND (:dataset_id IS NULL OR dataset_id = :dataset_id)
    AND (:model_id IS NULL OR model_id = :model_id)
),
e AS (
  SELECT event_id, dataset_id, model_id, dq_violations,
    count(*) OVER (PARTITION BY dataset_id, model_id) AS group_events
  FROM d
  WHERE copy_no = 1
)
SELECT
  v.rule_id,
  e.dataset_id,
  e.model_id,
  max(e.group_events) AS events,
  count(DISTINCT e.event_id) AS violating_events,
  CAST(count(DISTINCT e.event_id) AS DOUBLE) / max(e.group_events) AS violation_rate
FROM e
CROSS JOIN UNNEST(e.dq_violations) AS v(rule_id)
GROUP BY v.rule_id, e.dataset_id, e.model_id
ORDER BY violation_rate DESC, rule_id, dataset_id NULLS LAST, model_id NULLS LAST
