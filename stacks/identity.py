"""Identity: the Cognito user pool people and ML workloads sign in to.

People sign in with a password and a TOTP code and belong to groups (routes.ROLES);
ML workloads use the client-credentials grant and carry scopes (routes.SCOPES).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct
from mlaudit.resources import cognito_domain_prefix
from mlaudit.routes import ACCESS_TOKEN_SECONDS, RESOURCE_SERVER, ROLES, SCOPES
from mlaudit.settings import Settings


class Identity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        callback_urls: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,  # an admin invites every person
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=False,
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False, email=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
                password_history_size=12,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, adaptive authentication) needs the Plus plan.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for role, description in ROLES.items():
            cognito.UserPoolGroup(
                self, f"Group-{role}", user_pool=self.user_pool, group_name=role, description=description
            )

        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER,
            scopes=[
                cognito.ResourceServerScope(scope_name=name, scope_description=text)
                for name, text in SCOPES.items()
            ],
        )
        api_scopes = [
            cognito.OAuthScope.resource_server(
                self.resource_server, cognito.ResourceServerScope(scope_name=name, scope_description=text)
            )
            for name, text in SCOPES.items()
        ]

        # The hosted sign-in endpoints (/oauth2/authorize, /oauth2/token) live on this domain.
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=cognito_domain_prefix(settings.name_prefix, stack.account)
            ),
        )

        # ML workloads: confidential client, client-credentials grant, every API scope.
        # A deployment that wants one client per workload adds more clients like this one.
        self.workload_client = self.user_pool.add_client(
            "WorkloadClient",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True), scopes=api_scopes
            ),
            # Longer than people's: Cognito bills each client-credentials token (settings).
            access_token_validity=Duration.hours(settings.machine_token_hours),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        # People: public client (no secret), authorization code grant with PKCE. Cognito
        # verifies a code_challenge (S256) whenever the request carries one but does not
        # require it, so sign-in clients must send it (docs/deploy.md).
        self.people_client = self.user_pool.add_client(
            "PeopleClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=list(callback_urls),
                logout_urls=list(callback_urls),
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            access_token_validity=Duration.seconds(ACCESS_TOKEN_SECONDS),
            id_token_validity=Duration.seconds(ACCESS_TOKEN_SECONDS),
            refresh_token_validity=Duration.hours(12),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )

        self.issuer = f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"
        self.jwks_url = f"{self.issuer}/.well-known/jwks.json"
        self.client_ids = [self.workload_client.user_pool_client_id, self.people_client.user_pool_client_id]
