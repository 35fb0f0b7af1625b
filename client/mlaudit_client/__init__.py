"""mlaudit-client: send audit events from ML code to mlaudit (standard library only).

Background (inference services, training loops), never blocks or raises:

    from mlaudit_client import Auditor
    audit = Auditor()        # MLAUDIT_API_URL, MLAUDIT_TOKEN_URL, MLAUDIT_CLIENT_ID, MLAUDIT_CLIENT_SECRET
    audit.emit({"event_type": "prediction", "occurred_at": ..., "model_id": "churn", ...})

Synchronous (batch jobs that want the answers or an exception):

    from mlaudit_client import AuditClient
    answers = AuditClient(api_url, token_url, client_id, client_secret).send(events)

See docs/client.md in the mlaudit repository.
"""

from mlaudit_client._version import __version__
from mlaudit_client.auditor import Auditor
from mlaudit_client.config import Config
from mlaudit_client.events import TrainingRun, new_event_id
from mlaudit_client.sync import AuditClient, batches
from mlaudit_client.transport import USER_AGENT, AuditRejected

__all__ = ["USER_AGENT", "AuditClient", "AuditRejected", "Auditor", "Config", "TrainingRun", "__version__", "batches",
           "new_event_id"]
