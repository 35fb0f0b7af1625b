"""Identity: MFA (TOTP only) for people, groups and scopes from the routes table,
a confidential client for workloads and a public code-grant client for people."""

from __future__ import annotations

from mlaudit.routes import RESOURCE_SERVER, ROLES, SCOPES

from tests.infra.synth import Synth


def _clients(synth: Synth) -> dict[str, dict]:
    return {
        path: synth.resources[synth.logical_id(f"Identity/UserPool/{path}")]["Properties"]
        for path in ("WorkloadClient", "PeopleClient")
    }


def test_mfa_is_required_and_totp_only(synth: Synth) -> None:
    (pool,) = synth.props("AWS::Cognito::UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}


def test_password_policy_is_strong(synth: Synth) -> None:
    (pool,) = synth.props("AWS::Cognito::UserPool")
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))


def test_threat_protection_is_enforced(synth: Synth) -> None:
    (pool,) = synth.props("AWS::Cognito::UserPool")
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}


def test_groups_are_the_roles_of_the_routes_table(synth: Synth) -> None:
    assert {g["GroupName"] for g in synth.props("AWS::Cognito::UserPoolGroup")} == set(ROLES)


def test_resource_server_offers_the_scopes_of_the_routes_table(synth: Synth) -> None:
    (server,) = synth.props("AWS::Cognito::UserPoolResourceServer")
    assert server["Identifier"] == RESOURCE_SERVER
    assert {s["ScopeName"] for s in server["Scopes"]} == set(SCOPES)


def test_workload_client_uses_client_credentials_with_every_scope(synth: Synth) -> None:
    client = _clients(synth)["WorkloadClient"]
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    server = synth.logical_id("Identity/UserPool/ResourceServer")
    assert client["AllowedOAuthScopes"] == [
        {"Fn::Join": ["", [{"Ref": server}, f"/{scope}"]]} for scope in SCOPES
    ]
    # Cognito bills each client-credentials token: they last machine_token_hours, people's an hour
    assert client["AccessTokenValidity"] == synth.settings.machine_token_hours * 60
    assert client["TokenValidityUnits"]["AccessToken"] == "minutes"


def test_people_client_is_public_and_uses_the_code_grant(synth: Synth) -> None:
    client = _clients(synth)["PeopleClient"]
    assert client.get("GenerateSecret", False) is False
    assert client["AllowedOAuthFlows"] == ["code"]
    assert "implicit" not in client["AllowedOAuthFlows"]
    assert client["CallbackURLs"] == ["http://localhost:8080/callback"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
