//! The stored grant, redeemed for real: the scopes and MFA of the tokens, the rotated token
//! written back, and the inactivity window.

use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID, Resource};
use common::config::Settings;
use common::entra::{AccessTokenClaims, decode_unverified};
use common::rules;
use common::secret::{AccessToken, ExposeSecret as _};
use common::tokens::{GrantMetadata, TokenBroker};

use super::DoctorOptions;
use super::credential::now;
use super::report::{Check, Status, check};

const TOKEN_CHECKS: [&str; 5] = [
    "token.partner_center",
    "token.graph",
    "token.mfa",
    "token.partner_center_mfa",
    "token.inactivity",
];

fn fail_token_checks(checks: &mut Vec<Check>, detail: &str, fix: Option<String>) {
    for id in TOKEN_CHECKS {
        checks.push(check(id, Status::Fail, detail, fix.clone()));
    }
}

/// The stored grant, redeemed for real: the scopes and MFA of the tokens, the rotated token
/// written back, and the inactivity window.
pub(super) async fn token_checks(
    settings: &Settings,
    http: &reqwest::Client,
    partner: Option<&str>,
    options: &DoctorOptions,
    checks: &mut Vec<Check>,
) {
    let Some(partner) = partner else {
        for id in TOKEN_CHECKS {
            checks.push(check(
                id,
                Status::Skip,
                "not checked: no partner tenant chosen",
                Some(
                    "pass --partner-tenant TENANT (cpv-app: --partner TENANT, or list partners in partner.allowed_tenants)".into(),
                ),
            ));
        }
        return;
    };
    let broker = match TokenBroker::from_settings(settings, http.clone()).await {
        Ok(b) => b,
        Err(e) => {
            let detail = format!("cannot build the token broker: {e}");
            return fail_token_checks(checks, &detail, None);
        }
    };
    // Read before redeeming: the redemption below renews the inactivity window.
    let status = broker.status(partner).await;
    let Some(meta) = status.meta.clone() else {
        let detail = format!(
            "no consent stored for partner tenant {partner} in {}",
            status.location
        );
        let fix = format!(
            "a Global Admin + Admin Agent consents at {}",
            consent_page(settings)
        );
        return fail_token_checks(checks, &detail, Some(fix));
    };
    let (mfa, pc_token) = redemption_checks(settings, &broker, partner, checks).await;
    checks.push(mfa_check(settings, mfa, &meta));
    checks.push(partner_center_mfa_check(settings, http, pc_token).await);
    if let Some(admin) = &options.admin {
        checks.push(grant_scope_check(settings, admin).await);
    }
    let after = broker.status(partner).await;
    // Counted writes, not `rotated_at` timestamps: those have one-second resolution, and a
    // consent and its first rotation often share a second.
    let renewed = after.persisted && after.rotations_stored > status.rotations_stored;
    checks.push(match (&after.last_store_error, renewed) {
        (Some(e), _) => check("store.set", Status::Fail, format!("the rotated refresh token could not be written ({e}); the previous one stays stored"), Some("give the store identity Set on secrets, and check the vault is reachable".into())),
        (None, true) => check("store.set", Status::Pass, format!("the rotated refresh token was written to {}", after.location), None),
        (None, false) => check("store.set", Status::Skip, "no rotation happened (the token endpoint returned no new refresh token)", None),
    });
    checks.push(inactivity_check(settings, options, &meta, renewed));
}

/// Redeems the stored refresh token for Partner Center and Graph and checks each token's
/// scopes; whether the Partner Center token carries MFA (`None` when it was not issued), and
/// that token.
async fn redemption_checks(
    settings: &Settings,
    broker: &TokenBroker,
    partner: &str,
    checks: &mut Vec<Check>,
) -> (Option<bool>, Option<AccessToken>) {
    let mut mfa = None;
    let mut pc_token = None;
    for (id, resource) in [
        ("token.partner_center", Resource::PartnerCenter),
        ("token.graph", Resource::Graph),
    ] {
        let token = match broker.delegated_token(partner, partner, resource).await {
            Ok(token) => token,
            Err(e) => {
                checks.push(check(
                    id,
                    Status::Fail,
                    format!("the stored refresh token does not redeem for {resource}: {e}"),
                    Some(e.remedy().hint().to_owned()),
                ));
                continue;
            }
        };
        let claims = claims_of(&token);
        if resource == Resource::PartnerCenter {
            mfa = Some(claims.has_mfa());
            pc_token = Some(token);
        }
        checks.push(scope_check(settings, id, resource, &claims));
    }
    (mfa, pc_token)
}

/// `consent.for_organization`: whether the app's delegated grant in the partner tenant was made
/// for the organization (`consentType: AllPrincipals`) or only for the admin who signed in
/// (`Principal`: "Consent on behalf of your organization" left unchecked; docs/microsoft-behaviour.md
/// §0b). Both work for the stored consent; a user-only grant makes every other admin agent
/// consent again. Read as the signed-in partner admin (`doctor`'s Graph session: the consent's
/// own token may not read grants): `GET /servicePrincipals?$filter=appId eq …`, then its
/// `oauth2PermissionGrants`.
async fn grant_scope_check(settings: &Settings, graph: &common::graph::GraphClient) -> Check {
    const ID: &str = "consent.for_organization";
    let grants = match graph
        .get_service_principal_by_app_id(&settings.app.client_id)
        .await
    {
        Ok(Some(sp)) => graph.list_oauth2_permission_grants(&sp.id).await,
        Ok(None) => {
            return check(
                ID,
                Status::Skip,
                "not checked: the app has no service principal in the partner tenant",
                None,
            );
        }
        Err(e) => Err(e),
    };
    let grants = match grants {
        Ok(g) => g,
        Err(e) => {
            return check(
                ID,
                Status::Skip,
                format!("not checked: the app's delegated grants could not be read ({e})"),
                None,
            );
        }
    };
    let kind = |k: &str| {
        grants.iter().any(|g| {
            g.consent_type
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(k))
        })
    };
    if kind("AllPrincipals") {
        check(
            ID,
            Status::Pass,
            "the app's delegated permissions are granted for the whole partner organization",
            None,
        )
    } else if kind("Principal") {
        check(
            ID,
            Status::Warn,
            "the consent was granted for the signing-in user only (\"Consent on behalf of your organization\" was left unchecked): the stored consent works, but every other admin agent who signs in is asked to consent again",
            Some(format!(
                "to grant it for the organization, a Global Administrator consents again at {} and ticks \"Consent on behalf of your organization\" (or grants admin consent in the Entra admin center)",
                consent_page(settings)
            )),
        )
    } else {
        check(
            ID,
            Status::Skip,
            "not checked: no delegated grant of the app is visible to the consent's token",
            None,
        )
    }
}

/// What to do when the consent sign-in did not use MFA: on v1 the consent page asks Entra for
/// it; v2 cannot ask (AADSTS901002), so a policy must demand it.
fn mfa_fix(settings: &Settings) -> String {
    match settings.entra.endpoint_version {
        common::config::EndpointVersion::V1 => format!(
            "consent again signing in with Microsoft MFA at {}",
            consent_page(settings)
        ),
        common::config::EndpointVersion::V2 => format!(
            "the v2.0 endpoint cannot ask for MFA: add a Conditional Access policy (or turn on security defaults) in the partner tenant that requires MFA for the admin agents, then consent again at {}",
            consent_page(settings)
        ),
    }
}

/// Partner Center's own MFA check (`token.partner_center_mfa`): one App+User call with the
/// stored consent's token (`GET /v1/customers?size=1`, as the consent makes before storing);
/// Partner Center answers 401 with code 900421 to a token it does not consider MFA-compliant
/// (docs/microsoft-behaviour.md §0b, §5.1).
async fn partner_center_mfa_check(
    settings: &Settings,
    http: &reqwest::Client,
    token: Option<AccessToken>,
) -> Check {
    use common::http::StaticToken;
    use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
    use futures::StreamExt as _;
    const ID: &str = "token.partner_center_mfa";
    let Some(token) = token else {
        return check(
            ID,
            Status::Skip,
            "not checked: no Partner Center token",
            Some("fix the Partner Center token check above first".into()),
        );
    };
    let client = PartnerCenterClient::new(
        settings.cloud.partner_center.clone(),
        http.clone(),
        std::sync::Arc::new(StaticToken(token)),
        PartnerCenterOptions::default(),
    );
    match client.list_customers(1, None).next().await {
        None | Some(Ok(_)) => check(
            ID,
            Status::Pass,
            "Partner Center accepted an App+User call with the stored consent's token (MFA-compliant)",
            None,
        ),
        Some(Err(e)) if e.is_mfa_refusal() => check(
            ID,
            Status::Fail,
            "Partner Center refused the stored consent's token as not MFA-compliant (401, code 900421)",
            Some(mfa_fix(settings)),
        ),
        Some(Err(e)) => check(
            ID,
            Status::Warn,
            format!("Partner Center did not answer the MFA check: {e}"),
            Some(e.remedy().hint().to_owned()),
        ),
    }
}

/// The claims of an access token, unverified: it came from the token endpoint; they are only
/// described here.
pub fn claims_of(token: &AccessToken) -> AccessTokenClaims {
    decode_unverified(token.expose_secret()).unwrap_or_default()
}

/// `id` (`token.partner_center`, `token.graph`): whether the token for `resource`, with
/// `claims`, carries every scope SAM needs of it.
pub fn scope_check(
    settings: &Settings,
    id: &'static str,
    resource: Resource,
    claims: &AccessTokenClaims,
) -> Check {
    let resource_app = match resource {
        Resource::PartnerCenter => PARTNER_CENTER_APP_ID,
        _ => GRAPH_APP_ID,
    };
    let scp = claims.scopes();
    let missing: Vec<&str> = rules::required_scopes(resource_app)
        .into_iter()
        .filter(|n| !scp.iter().any(|s| s.eq_ignore_ascii_case(n)))
        .collect();
    if missing.is_empty() {
        check(
            id,
            Status::Pass,
            format!(
                "the stored refresh token redeems for {resource}; granted {}",
                scp.join(" ")
            ),
            None,
        )
    } else {
        check(
            id,
            Status::Fail,
            format!("the token for {resource} lacks {}", missing.join(", ")),
            Some(format!("consent again at {}", consent_page(settings))),
        )
    }
}

fn mfa_check(settings: &Settings, mfa: Option<bool>, meta: &GrantMetadata) -> Check {
    match mfa {
        Some(true) => check(
            "token.mfa",
            Status::Pass,
            format!(
                "the consent sign-in used MFA ({})",
                meta.user.as_deref().unwrap_or("user")
            ),
            None,
        ),
        Some(false) => check(
            "token.mfa",
            Status::Fail,
            "the token carries no MFA claim: Partner Center refuses it",
            Some(mfa_fix(settings)),
        ),
        None => check(
            "token.mfa",
            if meta.mfa { Status::Warn } else { Status::Fail },
            format!(
                "not verified from a token (consent recorded mfa={})",
                meta.mfa
            ),
            Some("fix the Partner Center token check above first".into()),
        ),
    }
}

fn inactivity_check(
    settings: &Settings,
    options: &DoctorOptions,
    meta: &GrantMetadata,
    renewed: bool,
) -> Check {
    let age_days = (now() - meta.rotated_at).div_euclid(86_400);
    let left = rules::REFRESH_TOKEN_INACTIVITY_DAYS - age_days;
    if left <= 0 {
        check(
            "token.inactivity",
            Status::Fail,
            format!(
                "last rotated {age_days} days ago: past the {}-day inactivity limit",
                rules::REFRESH_TOKEN_INACTIVITY_DAYS
            ),
            Some(format!(
                "consent again at {}, then schedule keepalive (docs/operations.md)",
                consent_page(settings)
            )),
        )
    } else if left < options.inactivity_warn_days {
        check(
            "token.inactivity",
            Status::Warn,
            format!(
                "last rotated {age_days} days ago: {left} days were left before the inactivity expiry{}",
                if renewed {
                    " (this run renewed it)"
                } else {
                    ""
                }
            ),
            Some("schedule keepalive daily or weekly (docs/operations.md)".into()),
        )
    } else {
        check(
            "token.inactivity",
            Status::Pass,
            format!("last rotated {age_days} days ago: {left} days before the inactivity expiry"),
            None,
        )
    }
}

fn consent_page(settings: &Settings) -> url::Url {
    let mut page = settings.consent.redirect_url.clone();
    page.set_path("/");
    page.set_query(None);
    page
}
