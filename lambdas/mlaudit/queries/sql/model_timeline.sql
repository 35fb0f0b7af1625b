-- description: Lifecycle timeline of a model (or one version): training, evaluation, registration, deployment, retirement, configuration and access events, oldest first. Predictions are left out (see prediction_volume_latency).
-- roles: auditor
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: model_id string required max_length=128 | The model.
-- param: model_version string optional max_length=64 | Only this version.
-- range: from_date to_date max_days=366
-- event_types: training_started training_completed training_failed model_evaluated model_registered model_deployed model_retired config_changed data_accessed audit_access lineage
-- column: occurred_at timestamp | When it happened (client clock, UTC).
-- column: received_at timestamp | When mlaudit received it (UTC).
-- column: event_type string
-- column: event_id string
-- column: model_version string
-- column: actor_id string
-- column: actor_type string
-- column: run_id string
-- column: dataset_id string
-- column: action string
-- column: resource string
-- column: dq_status string
WITH e AS (
  SELECT
    event_id, event_type, occurred_at, received_at, model_version, actor_id, actor_type,
    run_id, dataset_id, action, resource, dq_status,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND event_type IN (
      'training_started', 'training_completed', 'training_failed', 'model_evaluated',
      'model_registered', 'model_deployed', 'model_retired', 'config_changed',
      'data_accessed', 'audit_access', 'lineage'
    )
    AND model_id = :model_id
    AND (:model_version IS NULL OR model_version = :model_version)
)
SELECT
  occurred_at, received_at, event_type, event_id, model_version, actor_id, actor_type,
  run_id, dataset_id, action, resource, dq_status
FROM e
WHERE copy_no = 1
ORDER BY occurred_at, received_at, event_id
