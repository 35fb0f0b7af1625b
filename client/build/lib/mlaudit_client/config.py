"""Settings from arguments, then environment variables, then a TOML file, then defaults.

    MLAUDIT_API_URL, MLAUDIT_TOKEN_URL, MLAUDIT_CLIENT_ID, MLAUDIT_CLIENT_SECRET (or
    MLAUDIT_CLIENT_SECRET_ARN: read from AWS Secrets Manager with boto3, the `aws` extra),
    and MLAUDIT_<SETTING> for any other setting below.

The file is $MLAUDIT_CONFIG, else ./mlaudit.toml, else ~/.config/mlaudit/client.toml,
with the same names as keys (`api_url = "https://..."`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DURABILITIES = ("spool", "fsync", "memory")
WHEN_FULL = ("block", "drop")


@dataclass(frozen=True)
class Config:
    api_url: str
    token_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scopes: str = "mlaudit/events.write"
    timeout: float = 10.0  # seconds, per HTTP request
    # "spool": an unbuffered append per event that survives the process being killed;
    # "fsync": also synced to disk at every flush window (survives a machine crash);
    # "memory": fastest, loses unsent events if the process dies.
    durability: str = "spool"
    spool_dir: str = ""  # default: ~/.local/state/mlaudit/spool
    flush_interval: float = 1.0  # seconds before a partly filled batch is sent
    max_spool_bytes: int = 256 << 20  # unsent events on disk ("spool", "fsync")
    max_memory_events: int = 100_000  # unsent events in memory ("memory")
    when_full: str = "block"  # "block" up to block_timeout then drop, or "drop" at once
    block_timeout: float = 1.0
    rejected_file: str = ""  # default: rejected.jsonl in the spool directory
    exit_timeout: float = 5.0  # how long the exit hook waits for unsent events
    backoff_base: float = 0.2
    backoff_cap: float = 30.0

    @classmethod
    def load(cls, **arguments: Any) -> Config:
        """Arguments (None means unset) over MLAUDIT_* variables over the file over defaults."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(arguments) - known.keys() - {"client_secret_arn"}
        if unknown:
            raise TypeError(f"unknown mlaudit client setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        values.update(_from_file())
        values.update({name: os.environ[f"MLAUDIT_{name.upper()}"] for name in [*known, "client_secret_arn"]
                       if f"MLAUDIT_{name.upper()}" in os.environ})
        values.update({k: v for k, v in arguments.items() if v is not None})
        arn = values.pop("client_secret_arn", None)
        if not values.get("client_secret") and arn:
            values["client_secret"] = secret_from_aws(arn)
        missing = [n for n in ("api_url", "token_url", "client_id", "client_secret") if not values.get(n)]
        if missing:
            raise ValueError("mlaudit client: missing " + ", ".join(missing) + " (arguments, MLAUDIT_"
                             f"{missing[0].upper()} or the config file)")
        typed = {name: _typed(known[name].type, name, value) for name, value in values.items()}
        config = cls(**typed)
        if config.durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}, not {config.durability!r}")
        if config.when_full not in WHEN_FULL:
            raise ValueError(f"when_full must be one of {', '.join(WHEN_FULL)}, not {config.when_full!r}")
        return config

    def spool_path(self) -> Path:
        """One directory per API and client id: a lane adopted after a crash is sent as
        the identity that emitted it."""
        root = Path(self.spool_dir or Path.home() / ".local" / "state" / "mlaudit" / "spool").expanduser()
        identity = hashlib.sha256(f"{self.api_url}\n{self.client_id}".encode()).hexdigest()[:16]
        return root / identity


def _typed(kind: Any, name: str, value: Any) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise ValueError(f"mlaudit client setting {name}: {value!r} is not a number") from None
    return str(value)


def _from_file() -> dict[str, Any]:
    named = os.environ.get("MLAUDIT_CONFIG")
    candidates = [Path(named)] if named else [Path("mlaudit.toml"), Path.home() / ".config" / "mlaudit" / "client.toml"]
    for path in candidates:
        if path.is_file():
            with path.open("rb") as f:
                return tomllib.load(f)
        if named:
            raise ValueError(f"MLAUDIT_CONFIG names {named}, which is not a file")
    return {}


def secret_from_aws(arn: str) -> str:
    """The client secret from Secrets Manager: the secret string, or its "client_secret" key."""
    try:
        import boto3  # the `aws` extra
    except ImportError:
        raise ValueError("client_secret_arn needs boto3: pip install 'mlaudit-client[aws]'") from None
    region = arn.split(":")[3] if arn.startswith("arn:") else None
    text = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed["client_secret"] if isinstance(parsed, dict) and "client_secret" in parsed else text
