"""The configuration function's service: the settings this deployment runs with
(GET /v1/config, admins and auditors), each read itself an audit event.

Settings change only through a deploy (`cdk deploy -c name=value`); this lets an auditor
confirm what is in force (retention, Object Lock mode, limits) without reading the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlaudit.principal import Principal
from mlaudit.self_audit import SelfAudit


@dataclass(frozen=True)
class ConfigService:
    settings: dict[str, Any]  # every setting, as the deployment passed them (functions.AllSettings)
    audit: SelfAudit

    def read(self, principal: Principal) -> dict[str, Any]:
        """The settings, once the read is recorded (no answer without its audit event)."""
        self.audit.record(principal, [{
            "event_type": "audit_access", "occurred_at": datetime.now(UTC).isoformat(), "action": "read",
            "resource": "config",
        }])
        return {"settings": self.settings}
