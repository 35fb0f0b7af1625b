-- The walk from the node (:node_type, :node_id) along a CTE arcs (from_type, from_id,
-- to_type, to_id, first_seen, last_seen), up to :max_depth hops, ending the query: each
-- node reached, at its fewest hops. lineage_upstream orients the graph's links toward
-- what fed the node, lineage_downstream toward what it fed.
walk (node_type, node_id, depth, first_seen, last_seen) AS (
  SELECT to_type, to_id, 1, first_seen, last_seen FROM arcs WHERE from_type = :node_type AND from_id = :node_id
  UNION ALL
  SELECT x.to_type, x.to_id, w.depth + 1, x.first_seen, x.last_seen
  FROM walk w JOIN arcs x ON x.from_type = w.node_type AND x.from_id = w.node_id
  WHERE w.depth < :max_depth
)
SELECT node_type, node_id, min(depth) AS depth, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM walk
GROUP BY node_type, node_id
ORDER BY depth, node_type, node_id
