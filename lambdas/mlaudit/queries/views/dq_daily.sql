-- description: QuickSight dataset for data-quality dashboards - per day, dataset and model, the events and, per rule, how many broke it (rule_id is NULL on the row that carries the day's total).
-- column: event_date string | Partition (UTC date of receipt); filter on it.
-- column: dataset_id string
-- column: model_id string
-- column: rule_id string | NULL on the total row.
-- column: events integer | The total row - all events; a rule row - events breaking the rule.
WITH e AS (
  SELECT
    event_date, event_id, dataset_id, model_id, dq_violations,
    row_number() OVER (PARTITION BY event_date, event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
),
kept AS (
  SELECT * FROM e WHERE copy_no = 1
)
SELECT event_date, dataset_id, model_id, NULL AS rule_id, count(*) AS events
FROM kept
GROUP BY event_date, dataset_id, model_id
UNION ALL
SELECT k.event_date, k.dataset_id, k.model_id, v.rule_id, count(DISTINCT k.event_id) AS events
FROM kept k CROSS JOIN UNNEST(k.dq_violations) AS v(rule_id)
GROUP BY k.event_date, k.dataset_id, k.model_id, v.rule_id
