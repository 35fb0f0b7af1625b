"""The CLI's target on the local stack signs each role in once and reuses the token (a
report runs hundreds of queries, each two requests), and signs in again once it is old."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cli import target as target_module
from cli.target import Target
from local import client as local_client


def test_one_sign_in_per_role_reused_across_threads_until_it_is_old(monkeypatch) -> None:
    signed: list[str] = []
    monkeypatch.setattr(local_client, "user_tokens", lambda config, role: signed.append(role) or {
        "id_token": f"{role}-{len(signed)}"})
    clock = [1000.0]
    monkeypatch.setattr(target_module.time, "monotonic", lambda: clock[0])
    where = Target("http://local", local={"users": {"analyst": {}, "auditor": {}}})
    with ThreadPoolExecutor(4) as pool:
        headers = list(pool.map(lambda _: where.bearer("analyst"), range(20)))
    assert signed == ["analyst"] and {h["Authorization"] for h in headers} == {"Bearer analyst-1"}
    assert where.bearer("auditor") == {"Authorization": "Bearer auditor-2"}
    clock[0] += target_module.LOCAL_TOKEN_REUSE_SECONDS + 1
    assert where.bearer("analyst") == {"Authorization": "Bearer analyst-3"}
