"""Capture without code: what AWS services already publish, mapped to contract events.

- `sagemaker`: SageMaker's state changes on EventBridge (training jobs, model packages,
  endpoints and endpoint configs) -> training, registration and deployment events;
- `bedrock`: Bedrock's model invocation log records (files in the landing bucket) ->
  `generative_inference` events, prompts and outputs as hashes;
- `tables`: a declared mapping (`tables.json`) of a table's changed rows -> events, for a
  DynamoDB stream through EventBridge Pipes (`dynamodb`) and DMS Parquet files in the
  landing bucket (`dms`).

Each mapper is pure: input in, contract event dicts out, `None` for a change that records
nothing, or `Refused` naming the path and the rule an input breaks. The events then take
the ingest's own path (contract, data quality, claims per sender and event id, packs,
writer) like any client's: `capture.service` for the capture function, `mlaudit.imports`
for files. docs/capture.md says what each source gives and what to switch on.
"""

from mlaudit.capture.common import Refused, contract_problems

__all__ = ["Refused", "contract_problems"]
