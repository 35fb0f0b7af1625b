-- description: The whole lineage graph of the range, one row per edge (docs/lineage.md for the edges): datasets, and the jobs and runs that read and wrote them. A run that an OpenLineage RunEvent names a job for is folded into its job (namespace/name), so a job run every night is one node; runs no job names (the SDK's training runs) stay runs. Each edge carries how many runs it folds and when its events happened. What mlaudit report draws as its lineage graph.
-- roles: analyst auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- range: from_date to_date max_days=366
-- column: src_type string | dataset, run or job.
-- column: src_id string | Dataset ref, run id or job ref (namespace/name).
-- column: dst_type string | dataset, run or job.
-- column: dst_id string | Dataset ref, run id or job ref.
-- column: runs integer | Distinct runs the edge stands for (0 for an edge between datasets or from a JobEvent).
-- column: first_seen timestamp | Earliest occurred_at of the events that show the edge.
-- column: last_seen timestamp | Latest occurred_at of those events.
WITH RECURSIVE
-- include: lineage_links
jobs AS (
  SELECT run_id, min(resource) AS job FROM e
  WHERE event_type = 'lineage' AND run_id IS NOT NULL AND resource IS NOT NULL
  GROUP BY run_id
),
folded AS (
  SELECT
    CASE WHEN sj.job IS NOT NULL THEN 'job' ELSE l.src_type END AS src_type,
    coalesce(sj.job, l.src_id) AS src_id,
    CASE WHEN dj.job IS NOT NULL THEN 'job' ELSE l.dst_type END AS dst_type,
    coalesce(dj.job, l.dst_id) AS dst_id,
    CASE WHEN l.src_type = 'run' THEN l.src_id WHEN l.dst_type = 'run' THEN l.dst_id END AS run_id,
    l.first_seen, l.last_seen
  FROM links l
  LEFT JOIN jobs sj ON l.src_type = 'run' AND sj.run_id = l.src_id
  LEFT JOIN jobs dj ON l.dst_type = 'run' AND dj.run_id = l.dst_id
)
SELECT
  src_type, src_id, dst_type, dst_id, count(DISTINCT run_id) AS runs,
  min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM folded
GROUP BY src_type, src_id, dst_type, dst_id
ORDER BY src_type, src_id, dst_type, dst_id
