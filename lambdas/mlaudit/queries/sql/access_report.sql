-- description: Who read, queried or changed what - access to data and to the audit trail, configuration changes and privacy actions, per actor, action and resource.
-- roles: auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: actor_id string optional max_length=256 | Only this actor.
-- param: resource string optional max_length=512 | Only this resource.
-- range: from_date to_date max_days=366
-- event_types: audit_access data_accessed config_changed subject_access subject_erasure
-- column: actor_id string
-- column: actor_type string
-- column: event_type string
-- column: action string
-- column: resource string
-- column: events integer
-- column: first_at timestamp | Earliest occurred_at.
-- column: last_at timestamp | Latest occurred_at.
WITH e AS (
  SELECT
    actor_id, actor_type, event_type, action, resource, occurred_at,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type IN ('audit_access', 'data_accessed', 'config_changed', 'subject_access', 'subject_erasure')
    AND (:actor_id IS NULL OR actor_id = :actor_id)
    AND (:resource IS NULL OR resource = :resource)
)
SELECT
  actor_id, actor_type, event_type, action, resource,
  count(*) AS events,
  min(occurred_at) AS first_at,
  max(occurred_at) AS last_at
FROM e
WHERE copy_no = 1
GROUP BY actor_id, actor_type, event_type, action, resource
ORDER BY actor_id, actor_type, event_type, action NULLS LAST, resource NULLS LAST
