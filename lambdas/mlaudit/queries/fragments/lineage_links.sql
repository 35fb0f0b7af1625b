-- The lineage graph of the events in :from_date..:to_date (docs/lineage.md): one copy of
-- each event (d), its process node, a run or an OpenLineage job (e), every edge its
-- fields show (edges) and each distinct edge with when it was seen (links). Included
-- right after WITH RECURSIVE by lineage_upstream, lineage_downstream and model_inputs;
-- each walks `links` its own way. Columns a query does not use are pruned by the engine.
d AS (
  SELECT
    event_id, event_type, occurred_at, model_id, model_version, run_id, dataset_id, inputs, outputs, resource,
    action,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
),
e AS (
  SELECT
    event_type, occurred_at, model_id, model_version, run_id, dataset_id, inputs, outputs,
    CASE WHEN run_id IS NOT NULL THEN 'run' WHEN event_type = 'lineage' AND action = 'JOB' THEN 'job' END AS p_type,
    CASE WHEN run_id IS NOT NULL THEN run_id WHEN event_type = 'lineage' AND action = 'JOB' THEN resource END AS p_id
  FROM d WHERE copy_no = 1
),
edges AS (
  SELECT 'dataset' AS src_type, i.ref AS src_id, p_type AS dst_type, p_id AS dst_id, occurred_at
  FROM e CROSS JOIN UNNEST(e.inputs) AS i(ref) WHERE p_id IS NOT NULL
  UNION ALL
  SELECT 'dataset', dataset_id, p_type, p_id, occurred_at
  FROM e WHERE p_id IS NOT NULL AND dataset_id IS NOT NULL
    AND event_type IN ('training_started', 'training_completed', 'training_failed', 'model_evaluated')
  UNION ALL
  SELECT p_type, p_id, 'dataset', o.ref, occurred_at
  FROM e CROSS JOIN UNNEST(e.outputs) AS o(ref) WHERE p_id IS NOT NULL
  UNION ALL
  SELECT 'dataset', i.ref, 'dataset', dataset_id, occurred_at
  FROM e CROSS JOIN UNNEST(e.inputs) AS i(ref)
  WHERE dataset_id IS NOT NULL AND event_type IN ('dataset_registered', 'data_ingested')
),
links AS (
  SELECT src_type, src_id, dst_type, dst_id, min(occurred_at) AS first_seen, max(occurred_at) AS last_seen
  FROM edges GROUP BY src_type, src_id, dst_type, dst_id
),
