"""Token verification and the permission check, with a locally generated key pair and
an injected JWKS fetcher (no network)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm
from mlaudit import auth
from mlaudit.bootstrap import Runtime
from mlaudit.handlers import authorizer
from mlaudit.principal import Principal
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Env

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test"
MACHINE = "machineclient1"
PEOPLE = "peopleclient1"
INGEST = next(r for r in ROUTES if r.method == "POST" and r.path == "/v1/events")
PEOPLE_ONLY = Route(
    "GET", "/v1/subjects/{subject_ref}", "privacy", "subject_access", roles=frozenset({"privacy_officer"}),
)
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/local/POST/v1/events"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _key()
OTHER_KEY = _key()


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256", "use": "sig"}


class FakeJwks:
    def __init__(self, *keys: tuple[rsa.RSAPrivateKey, str]) -> None:
        self.keys = list(keys)
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"keys": [_jwk(k, kid) for k, kid in self.keys]}


def _verifier(fetcher: FakeJwks | None = None) -> auth.TokenVerifier:
    return auth.TokenVerifier(
        issuer=ISSUER,
        allowed_client_ids=frozenset({MACHINE, PEOPLE}),
        jwks=auth.JwksCache(fetcher or FakeJwks((KEY, "k1"))),
    )


def _token(claims: dict, key=KEY, kid="k1", alg="RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def machine_claims(**overrides) -> dict:
    now = int(time.time())
    return {
        "iss": ISSUER, "sub": MACHINE, "client_id": MACHINE, "token_use": "access",
        "scope": "mlaudit/events.write mlaudit/events.read", "iat": now, "exp": now + 3600,
        **overrides,
    }


def person_claims(token_use="access", **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "sub": "5b1c-user-sub", "token_use": token_use, "iat": now, "exp": now + 3600,
        "cognito:groups": ["auditor", "not-a-role"],
    }
    if token_use == "access":
        claims.update(client_id=PEOPLE, username="alice", scope="aws.cognito.signin.user.admin")
    else:
        claims.update(aud=PEOPLE, **{"cognito:username": "alice"})
    return {**claims, **overrides}


def test_valid_workload_token_gives_workload_with_stripped_scopes():
    # Given a client-credentials access token
    principal = _verifier().verify(_token(machine_claims()))
    # Then it is a workload acting through its scopes, prefix removed
    assert principal == Principal(
        kind="workload", actor_id=MACHINE, client_id=MACHINE, scopes=("events.read", "events.write")
    )


@pytest.mark.parametrize("token_use", ["access", "id"])
def test_valid_person_token_gives_person_with_known_roles_only(token_use):
    principal = _verifier().verify(_token(person_claims(token_use)))
    assert principal.kind == "person"
    assert principal.actor_id == "5b1c-user-sub"
    assert principal.client_id == PEOPLE
    assert principal.roles == ("auditor",)
    assert principal.scopes == ()


@pytest.mark.parametrize(
    "claims",
    [
        machine_claims(exp=int(time.time()) - 120),  # expired beyond the leeway
        machine_claims(iat=int(time.time()) + 86_400),  # issued in the future (a day: however late the run)
        machine_claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
        machine_claims(sub="someoneelse", client_id="someoneelse"),  # unknown client
        machine_claims(token_use="refresh"),
        person_claims("id", aud="someoneelse"),  # ID token for another app client
        person_claims("access", **{"cognito:groups": "auditor"}),  # malformed groups
        {k: v for k, v in machine_claims().items() if k != "exp"},  # exp is required
    ],
    ids=["expired", "future-iat", "wrong-issuer", "unknown-client", "refresh-use", "id-wrong-aud",
         "groups-not-list", "no-exp"],
)
def test_bad_claims_are_unauthenticated(claims):
    with pytest.raises(auth.TokenRefused) as caught:
        _verifier().verify(_token(claims))
    assert str(caught.value) == auth.UNAUTHORIZED_BODY["message"]  # no token detail for the caller


def test_signature_by_another_key_is_rejected():
    with pytest.raises(auth.TokenRefused):
        _verifier().verify(_token(machine_claims(), key=OTHER_KEY))


def test_tampered_payload_is_rejected():
    header, payload, signature = _token(machine_claims()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "mlaudit/events.write mlaudit/lineage.write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(auth.TokenRefused):
        _verifier().verify(f"{header}.{forged}.{signature}")


def test_alg_none_is_rejected():
    unsigned = jwt.encode(machine_claims(), None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(auth.TokenRefused):
        _verifier().verify(unsigned)


def test_hs256_signed_with_the_public_key_is_rejected():
    # The classic confusion: use the RSA public key (known to all) as an HMAC secret.
    # (PyJWT refuses to sign like this, so the token is assembled by hand.)
    public_pem = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    signing_input = f"{header}.{b64(json.dumps(machine_claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(signature)}"
    with pytest.raises(auth.TokenRefused):
        _verifier().verify(forged)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 10_000, None])
def test_garbage_is_unauthenticated(token):
    with pytest.raises(auth.TokenRefused):
        _verifier().verify(token)


def test_unknown_kid_refetches_once_then_finds_rotated_key():
    fetcher = FakeJwks((KEY, "k1"))
    clock = [1000.0]
    verifier = auth.TokenVerifier(
        issuer=ISSUER, allowed_client_ids=frozenset({MACHINE}),
        jwks=auth.JwksCache(fetcher, clock=lambda: clock[0]),
    )
    verifier.verify(_token(machine_claims()))
    assert fetcher.calls == 1
    # Given the pool rotated in a new key a minute later
    fetcher.keys.append((OTHER_KEY, "k2"))
    clock[0] += 60
    # Then a token signed with it verifies after exactly one refetch
    verifier.verify(_token(machine_claims(), key=OTHER_KEY, kid="k2"))
    assert fetcher.calls == 2
    # And a burst of unknown kids does not hammer the JWKS endpoint
    for _ in range(5):
        with pytest.raises(auth.TokenRefused):
            verifier.verify(_token(machine_claims(), kid="nope"))
    assert fetcher.calls == 2


def test_jwks_unreachable_fails_closed():
    def broken():
        raise OSError("connection refused")

    verifier = auth.TokenVerifier(
        issuer=ISSUER, allowed_client_ids=frozenset({MACHINE}), jwks=auth.JwksCache(broken)
    )
    with pytest.raises(auth.TokenRefused):
        verifier.verify(_token(machine_claims()))


def test_jwks_outage_keeps_known_keys_and_backs_off():
    fetcher = FakeJwks((KEY, "k1"))
    clock = [0.0]
    verifier = auth.TokenVerifier(
        issuer=ISSUER, allowed_client_ids=frozenset({MACHINE}),
        jwks=auth.JwksCache(fetcher, ttl=100, min_refetch=10, clock=lambda: clock[0]),
    )
    verifier.verify(_token(machine_claims()))

    def down():
        fetcher.calls += 1
        raise OSError("unreachable")

    verifier.jwks._fetch = down
    clock[0] = 150  # past the TTL: refetch fails, the known key still verifies
    for _ in range(3):
        verifier.verify(_token(machine_claims()))
    assert fetcher.calls == 2  # one failed refetch, then a pause
    clock[0] = 161
    verifier.verify(_token(machine_claims()))
    assert fetcher.calls == 3


def test_workload_needs_one_of_the_route_scopes():
    writer = Principal(kind="workload", actor_id=MACHINE, client_id=MACHINE, scopes=("lineage.write",))
    reader = Principal(kind="workload", actor_id=MACHINE, client_id=MACHINE, scopes=("events.read",))
    assert auth.may_call(writer, INGEST)
    assert not auth.may_call(reader, INGEST)


def test_workload_never_reaches_people_only_route():
    everything = Principal(
        kind="workload", actor_id=MACHINE, client_id=MACHINE,
        scopes=("events.write", "lineage.write", "events.read"), roles=("privacy_officer",),
    )
    assert not auth.may_call(everything, PEOPLE_ONLY)


def test_person_needs_one_of_the_route_roles():
    officer = Principal(kind="person", actor_id="u1", client_id=PEOPLE, roles=("privacy_officer",))
    auditor = Principal(kind="person", actor_id="u2", client_id=PEOPLE, roles=("auditor",))
    assert auth.may_call(officer, PEOPLE_ONLY)
    assert not auth.may_call(auditor, PEOPLE_ONLY)
    # people never reach workload-only routes, whatever scopes their token lists
    scoped = Principal(kind="person", actor_id="u3", client_id=PEOPLE, scopes=("events.write",))
    assert not auth.may_call(scoped, INGEST)


# The authorizer handler: the same verification, answered as API Gateway expects.


@pytest.fixture
def authorizer_env(monkeypatch):
    # The function's own environment, through the composition root, as on Lambda.
    fetcher = FakeJwks((KEY, "k1"))
    environ = {Env.JWKS_URL: "https://example.invalid/jwks.json", Env.TOKEN_ISSUER: ISSUER,
               Env.ALLOWED_CLIENT_IDS: f"{MACHINE} {PEOPLE}"}
    monkeypatch.setattr(auth, "http_jwks_fetcher", lambda url: fetcher)
    authorizer.APP.configure(runtime=Runtime(environ, lambda service: None))
    yield fetcher
    authorizer.APP.reset()


def _request(token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers}


def test_authorizer_allows_every_permitted_route_with_principal_context(authorizer_env):
    result = authorizer.handler(_request(_token(machine_claims())), None)
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    # Every route one of the token's scopes opens, and only those (the cached policy is per token).
    scopes = {"events.write", "events.read"}
    prefix = "arn:aws:execute-api:us-east-1:123456789012:abc123/local"
    expected = sorted(authorizer.route_arn(prefix, r) for r in ROUTES if r.scopes & scopes)
    assert sorted(statement["Resource"]) == expected
    assert f"{prefix}/POST/v1/events" in expected
    assert Principal.from_context(result["context"]).kind == "workload"
    assert result["principalId"] == MACHINE


def test_authorizer_denies_principal_who_may_call_nothing(authorizer_env):
    nobody = person_claims("id", **{"cognito:groups": ["not-a-role"]})
    result = authorizer.handler(_request(_token(nobody)), None)
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/local/*/*"]


@pytest.mark.parametrize(
    "token", [None, "not-a-jwt", _token(machine_claims(exp=int(time.time()) - 3600))],
    ids=["missing", "garbage", "expired"],
)
def test_authorizer_raises_unauthorized(authorizer_env, token):
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorizer.handler(_request(token), None)


@pytest.mark.parametrize("value", ["Basic abc", "Bearer", "Bearer a b", "bearer  tok "])
def test_bearer_header_parsing(value):
    expected = "tok" if value.startswith("bearer  tok") else None
    assert authorizer.bearer_token({"authorization": value}) == expected


def test_route_arn_wildcards_path_parameters():
    prefix = "arn:aws:execute-api:us-east-1:123456789012:abc123/local"
    assert authorizer.route_arn(prefix, PEOPLE_ONLY) == f"{prefix}/GET/v1/subjects/*"
