-- description: What a dataset, run or job fed, up to max_depth hops (each hop one edge of the lineage graph; see docs/lineage.md for the edges). A dataset's downstream is the runs and jobs that read it, what they wrote, the runs that read that, and so on; dataset registrations link a source to the datasets made from it. Edges come from the events in the range.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: node_type string required pattern=^(dataset|run|job)$ | The start node's type.
-- param: node_id string required max_length=512 | The start node: a dataset ref (namespace/name), a run id or a job ref (namespace/name).
-- param: max_depth integer optional min=1 max=8 default=4 | Hops to follow (Athena stops recursion at 10 levels).
-- range: from_date to_date max_days=366
-- column: node_type string | dataset, run or job.
-- column: node_id string | Dataset ref, run id or job ref.
-- column: depth integer | The fewest hops from the start node.
-- column: first_seen timestamp | Earliest occurred_at of the events that show an edge into this node from the start.
-- column: last_seen timestamp | Latest occurred_at of those events.
WITH RECURSIVE d AS (
  SELECT
    event_id, event_type, occurred_at, run_id, dataset_id, inputs, outputs, resource, action,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
),
e AS (
  SELECT
    event_type, occurred_at, dataset_id, inputs, outputs,
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
walk (node_type, node_id, depth, first_seen, last_seen) AS (
  SELECT dst_type, dst_id, 1, first_seen, last_seen FROM links WHERE src_type = :node_type AND src_id = :node_id
  UNION ALL
  SELECT x.dst_type, x.dst_id, w.depth + 1, x.first_seen, x.last_seen
  FROM walk w JOIN links x ON x.src_type = w.node_type AND x.src_id = w.node_id
  WHERE w.depth < :max_depth
)
SELECT node_type, node_id, min(depth) AS depth, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM walk
GROUP BY node_type, node_id
ORDER BY depth, node_type, node_id
