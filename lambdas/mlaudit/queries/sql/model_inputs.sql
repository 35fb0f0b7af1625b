-- description: Which datasets, runs and jobs fed one model version, up to max_depth hops upstream of it, joined to its predictions. The model version is fed by the runs of its registration, training and evaluation events (run_id) and by the datasets those events name (dataset_id, inputs); from there the walk follows the lineage graph upstream (docs/lineage.md). Each row carries the count and time span of the version's predictions in the range: the predictions those inputs influenced.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: model_id string required max_length=128 | The model.
-- param: model_version string required max_length=64 | The version.
-- param: max_depth integer optional min=1 max=8 default=4 | Hops to follow from the model version (Athena stops recursion at 10 levels).
-- range: from_date to_date max_days=366
-- column: node_type string | dataset, run or job.
-- column: node_id string | Dataset ref, run id or job ref.
-- column: depth integer | The fewest hops from the model version (1: named by its own events).
-- column: first_seen timestamp | Earliest occurred_at of the events that link this node toward the model version.
-- column: last_seen timestamp | Latest occurred_at of those events.
-- column: predictions integer | The model version's predictions in the range.
-- column: first_prediction timestamp | Earliest occurred_at of those predictions.
-- column: last_prediction timestamp | Latest occurred_at of those predictions.
WITH RECURSIVE
-- include: lineage_links
mine AS (
  SELECT * FROM e
  WHERE model_id = :model_id AND model_version = :model_version
    AND event_type IN ('model_registered', 'training_started', 'training_completed', 'training_failed', 'model_evaluated')
),
seeds AS (
  SELECT 'run' AS node_type, run_id AS node_id, occurred_at FROM mine WHERE run_id IS NOT NULL
  UNION ALL
  SELECT 'dataset', dataset_id, occurred_at FROM mine WHERE dataset_id IS NOT NULL
  UNION ALL
  SELECT 'dataset', i.ref, occurred_at FROM mine CROSS JOIN UNNEST(mine.inputs) AS i(ref)
),
walk (node_type, node_id, depth, first_seen, last_seen) AS (
  SELECT node_type, node_id, 1, min(occurred_at), max(occurred_at) FROM seeds GROUP BY node_type, node_id
  UNION ALL
  SELECT x.src_type, x.src_id, w.depth + 1, x.first_seen, x.last_seen
  FROM walk w JOIN links x ON x.dst_type = w.node_type AND x.dst_id = w.node_id
  WHERE w.depth < :max_depth
),
served AS (
  SELECT count(*) AS predictions, min(occurred_at) AS first_prediction, max(occurred_at) AS last_prediction
  FROM e WHERE event_type = 'prediction' AND model_id = :model_id AND model_version = :model_version
)
SELECT
  w.node_type, w.node_id, min(w.depth) AS depth, min(w.first_seen) AS first_seen, max(w.last_seen) AS last_seen,
  s.predictions, s.first_prediction, s.last_prediction
FROM walk w CROSS JOIN served s
GROUP BY w.node_type, w.node_id, s.predictions, s.first_prediction, s.last_prediction
ORDER BY depth, w.node_type, w.node_id
