-- description: What a dataset, run or job came from, up to max_depth hops (each hop one edge of the lineage graph; see docs/lineage.md for the edges). A dataset's upstream is the runs and jobs that wrote it, their inputs, the runs that wrote those, and so on; dataset registrations link a dataset to its sources. Edges come from the events in the range.
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
-- column: first_seen timestamp | Earliest occurred_at of the events that show an edge out of this node toward the start.
-- column: last_seen timestamp | Latest occurred_at of those events.
WITH RECURSIVE
-- include: lineage_links
arcs AS (
  SELECT dst_type AS from_type, dst_id AS from_id, src_type AS to_type, src_id AS to_id, first_seen, last_seen
  FROM links
),
-- include: lineage_walk
