-- description: Lineage of one model version in the range. Upstream - the training runs that produced it (run_id of its registration, training and evaluation events), their parent runs, the datasets they read (dataset_id and inputs) and the sources of those datasets (inputs of their registration and ingestion events). Downstream - its deployments (resource, else environment) and the workloads its predictions served.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: model_id string required max_length=128 | The model.
-- param: model_version string required max_length=64 | The version.
-- range: from_date to_date max_days=366
-- column: direction string | upstream or downstream.
-- column: relation string | produced_by, parent_run, trained_on, derived_from, deployed_to, served.
-- column: node_type string | run, dataset, deployment or workload.
-- column: node_id string
-- column: events integer | Events that show the link.
-- column: first_seen timestamp | Earliest occurred_at of those events.
-- column: last_seen timestamp | Latest occurred_at of those events.
WITH d AS (
  SELECT
    event_id, event_type, occurred_at, model_id, model_version, run_id, parent_run_id,
    dataset_id, inputs, resource, environment, workload,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
),
e AS (
  SELECT * FROM d WHERE copy_no = 1
),
mine AS (
  SELECT * FROM e WHERE model_id = :model_id AND model_version = :model_version
),
runs AS (
  SELECT DISTINCT run_id FROM mine
  WHERE run_id IS NOT NULL
    AND event_type IN ('model_registered', 'training_started', 'training_completed', 'training_failed', 'model_evaluated')
),
run_events AS (
  SELECT * FROM e WHERE run_id IN (SELECT run_id FROM runs)
),
datasets AS (
  SELECT dataset_id AS node_id, occurred_at FROM run_events WHERE dataset_id IS NOT NULL
  UNION ALL
  SELECT i.ref AS node_id, r.occurred_at FROM run_events r CROSS JOIN UNNEST(r.inputs) AS i(ref)
),
links AS (
  SELECT 'upstream' AS direction, 'produced_by' AS relation, 'run' AS node_type, run_id AS node_id, occurred_at
  FROM mine WHERE run_id IN (SELECT run_id FROM runs)
  UNION ALL
  SELECT 'upstream', 'parent_run', 'run', parent_run_id, occurred_at
  FROM run_events WHERE parent_run_id IS NOT NULL
  UNION ALL
  SELECT 'upstream', 'trained_on', 'dataset', node_id, occurred_at FROM datasets
  UNION ALL
  SELECT 'upstream', 'derived_from', 'dataset', i.ref, s.occurred_at
  FROM e s CROSS JOIN UNNEST(s.inputs) AS i(ref)
  WHERE s.event_type IN ('dataset_registered', 'data_ingested')
    AND s.dataset_id IN (SELECT node_id FROM datasets)
  UNION ALL
  SELECT 'downstream', 'deployed_to', 'deployment', coalesce(resource, environment), occurred_at
  FROM mine WHERE event_type IN ('model_deployed', 'model_retired') AND coalesce(resource, environment) IS NOT NULL
  UNION ALL
  SELECT 'downstream', 'served', 'workload', workload, occurred_at
  FROM mine WHERE event_type = 'prediction' AND workload IS NOT NULL
)
SELECT
  direction, relation, node_type, node_id,
  count(*) AS events,
  min(occurred_at) AS first_seen,
  max(occurred_at) AS last_seen
FROM links
GROUP BY direction, relation, node_type, node_id
ORDER BY direction DESC, relation, node_type, node_id
