-- description: Everything recorded about one data subject, by pseudonym, oldest first (for subject access and erasure reviews). Personal data stays encrypted and is not returned.
-- roles: privacy_officer
-- param: from_date date required | First event_date (UTC), inclusive.
-- param: to_date date required | Last event_date (UTC), inclusive.
-- param: subject_pseudonym string required pattern=[A-Za-z0-9._:+/=-]{8,128} | The subject's pseudonym.
-- range: from_date to_date max_days=2192
-- column: occurred_at timestamp
-- column: received_at timestamp
-- column: event_type string
-- column: event_id string
-- column: actor_id string
-- column: action string
-- column: resource string
-- column: model_id string
-- column: model_version string
-- column: dataset_id string
-- column: prediction_id string
-- column: has_personal_data boolean | Whether encrypted personal data is stored with the event.
WITH e AS (
  SELECT
    occurred_at, received_at, event_type, event_id, actor_id, action, resource, model_id,
    model_version, dataset_id, prediction_id, personal_data,
    row_number() OVER (PARTITION BY event_id ORDER BY received_at, leaf_hash) AS copy_no
  FROM events
  WHERE event_date BETWEEN :from_date AND :to_date
    AND subject_pseudonym = :subject_pseudonym
)
SELECT
  occurred_at, received_at, event_type, event_id, actor_id, action, resource, model_id,
  model_version, dataset_id, prediction_id,
  personal_data IS NOT NULL AS has_personal_data
FROM e
WHERE copy_no = 1
ORDER BY occurred_at, received_at, event_id
