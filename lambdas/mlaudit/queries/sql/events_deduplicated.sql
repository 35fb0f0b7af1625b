-- description: Events in the range with one row per event_id (delivery is at least once) - the earliest received copy - and how many copies arrived.
-- roles: auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: event_type string optional pattern=[a-z_]{1,32} | Only this event type.
-- range: from_date to_date max_days=31
-- column: event_id string
-- column: event_type string
-- column: event_date string
-- column: occurred_at timestamp
-- column: received_at timestamp
-- column: actor_id string
-- column: actor_type string
-- column: client_id string
-- column: workload string
-- column: environment string
-- column: model_id string
-- column: model_version string
-- column: dataset_id string
-- column: run_id string
-- column: prediction_id string
-- column: action string
-- column: resource string
-- column: dq_status string
-- column: leaf_hash string
-- column: copies integer | Deliveries of this event_id in the range.
WITH e AS (
  SELECT
    event_id, event_type, event_date, occurred_at, received_at, actor_id, actor_type, client_id,
    workload, environment, model_id, model_version, dataset_id, run_id, prediction_id, action,
    resource, dq_status, leaf_hash,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no,
    count(*) OVER (PARTITION BY event_id) AS copies
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND (:event_type IS NULL OR event_type = :event_type)
)
SELECT
  event_id, event_type, event_date, occurred_at, received_at, actor_id, actor_type, client_id,
  workload, environment, model_id, model_version, dataset_id, run_id, prediction_id, action,
  resource, dq_status, leaf_hash, copies
FROM e
WHERE copy_no = 1
ORDER BY received_at, event_id
