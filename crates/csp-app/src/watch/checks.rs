//! The watch's checks. Each is independent: one that fails records `unknown` findings and an
//! error for its check, and the others still run. They share the cycle's one redemption per
//! partner: the keepalive redeems the partner's refresh token for Microsoft Graph, and the Graph
//! checks use that cached token ([`GraphAccess`]). A check that needs a permission the app, as
//! `setup` registers it, does not request is `skipped`, saying why and how to turn it on.

use std::collections::BTreeMap;
use std::sync::Arc;

use admin::doctor::{self, Unread};
use admin::setup::AppCertificate;
use common::cloud::Resource;
use common::config::{AppCredential, CertificateSource, KeyVaultIdentity, StoreSettings};
use common::entra::AccessTokenClaims;
use common::graph::{GraphClient, GraphError, GraphOptions, relationship_status};
use common::rules::REFRESH_TOKEN_INACTIVITY_SECS;
use common::tokens::{BrokerError, BrokerTokens, GrantMetadata, GrantStatus, StoreError};
use futures::stream::{self, StreamExt as _};

use super::metrics::Sample;
use super::outcome::{Gathered, Outcome};
use super::relationship::{Listed, Listing, Relationship, shared, unix};
use super::{State, Thresholds};
use crate::context::Context;

/// Check names (the `check` of findings and of `sam_check_errors_total`).
pub const REFRESH_TOKEN: &str = "refresh_token";
/// Keepalive of every stored partner.
pub const KEEPALIVE: &str = "keepalive";
/// App credential expiry.
pub const CREDENTIALS: &str = "credentials";
/// GDAP relationship expiry.
pub const GDAP: &str = "gdap";
/// Permission drift: the scopes of the partner's Graph token, and (when the token may read the
/// registration) the doctor's registration and grant checks.
pub const PERMISSIONS: &str = "permissions";
/// Every check, in the order a cycle runs them.
pub const CHECKS: [&str; 5] = [REFRESH_TOKEN, KEEPALIVE, CREDENTIALS, GDAP, PERMISSIONS];

/// The fix when Graph refuses to read app registrations.
const APPLICATION_READ_FIX: &str = "grant Application.Read.All (delegated, Microsoft Graph) to the app and have the partner's admin agent consent again, so the watch can read the app's certificates and secrets";

/// Why the checks that read the app registration are skipped on least privilege, and how to
/// turn them on, in one line.
const REGISTRATION_SKIPPED: &str = "skipped: reading the app registration needs Application.Read.All (delegated, Microsoft Graph), which setup does not request (least privilege); to watch it, grant Application.Read.All to the app and have the partner's admin agent consent again";

/// What the configured partner's Microsoft Graph token, redeemed by this cycle's keepalive, lets
/// the cycle read.
#[derive(Debug)]
pub enum GraphAccess {
    /// The token's claims (its scopes).
    Token(Box<AccessTokenClaims>),
    /// No token: the redemption failed (the message says why); the Graph checks try and report.
    Unavailable(String),
}

impl GraphAccess {
    /// Whether the token may read the app registration ([`doctor::registration::can_read`]);
    /// without a token nothing tells, so the checks try and report why they could not read.
    pub fn reads_registration(&self) -> bool {
        match self {
            Self::Token(claims) => doctor::registration::can_read(&claims.scopes()),
            Self::Unavailable(_) => true,
        }
    }
}

/// What the checks of one cycle read.
#[derive(Debug)]
pub struct Cycle<'a> {
    /// Clients and configuration.
    pub ctx: &'a Context,
    /// Graph in the partner tenant, with the watch's retry policy.
    pub graph: &'a GraphClient,
    /// The watch's clock at the start of the cycle.
    pub now: i64,
    /// Warning and critical windows.
    pub thresholds: Thresholds,
    /// When the watch's own keepalive last succeeded, per partner.
    pub last_keepalive: &'a BTreeMap<String, i64>,
    /// Partners redeemed (and listed) at once.
    pub concurrency: usize,
    /// The relationships of the previous cycle's snapshot (sorted by customer and ID): those
    /// unchanged are shared, not held twice.
    pub previous: &'a [Arc<Relationship>],
}

fn days(seconds: i64) -> String {
    let d = seconds as f64 / 86_400.0;
    format!("{d:.1} days")
}

fn ends(what: &str, left: i64) -> String {
    if left <= 0 {
        format!("{what} expired {} ago", days(-left))
    } else {
        format!("{what} expires in {}", days(left))
    }
}

impl Cycle<'_> {
    /// The partners to look at: the stored ones (the refresh-token check records a failure to
    /// list them), else the configured partner. A Key Vault identity with only `get` and `set`
    /// on secrets (least privilege) may not list them: then the configured partner's grant is
    /// read by name.
    pub async fn partners(&self, out: &mut Outcome) -> Vec<GrantMetadata> {
        match self.ctx.broker.stored_partners().await {
            Ok(p) => p,
            Err(BrokerError::Store(StoreError::KeyVault {
                status: Some(403), ..
            })) => {
                let status = self.ctx.broker.status(&self.ctx.partner).await;
                match status.meta {
                    Some(meta) => vec![meta],
                    None => {
                        out.error(
                            REFRESH_TOKEN,
                            self.ctx.partner.as_str(),
                            format!(
                                "no grant of partner {} could be read from {} (see the keepalive finding for why)",
                                self.ctx.partner, status.location
                            ),
                        );
                        Vec::new()
                    }
                }
            }
            Err(e) => {
                out.error(
                    REFRESH_TOKEN,
                    "store",
                    format!("cannot list the stored partners: {e}"),
                );
                Vec::new()
            }
        }
    }

    /// a) Refresh-token inactivity, measured before this cycle's keepalive.
    pub fn refresh_tokens(&self, partners: &[GrantMetadata], out: &mut Outcome) {
        for meta in partners {
            let own = self
                .last_keepalive
                .get(&meta.tenant_id)
                .copied()
                .unwrap_or(i64::MIN);
            let last = meta.rotated_at.max(own);
            let left = last + REFRESH_TOKEN_INACTIVITY_SECS - self.now;
            out.gauges.push(Sample::new(
                "sam_refresh_token_expiry_seconds",
                &[("partner", &meta.tenant_id)],
                left,
            ));
            let state = self.thresholds.state(left);
            let mut message = ends("the refresh token", left);
            message.push_str(" from 90 days of inactivity");
            if state != State::Ok {
                message.push_str(if left <= 0 {
                    ": an admin agent must consent again"
                } else {
                    ": run keepalive (the watch does, every cycle)"
                });
            }
            out.push(
                REFRESH_TOKEN,
                meta.tenant_id.as_str(),
                state,
                message,
                Some(left),
            );
        }
    }

    /// What the configured partner's Graph token (cached by the keepalive) lets the cycle read.
    pub async fn graph_access(&self) -> GraphAccess {
        let partner = &self.ctx.partner;
        match self
            .ctx
            .broker
            .delegated_token(partner, partner, Resource::Graph)
            .await
        {
            Ok(token) => GraphAccess::Token(Box::new(doctor::token::claims_of(&token))),
            Err(e) => GraphAccess::Unavailable(e.to_string()),
        }
    }

    /// b) Keepalive of every partner and d) the listing of its GDAP relationships,
    /// `concurrency` partners at a time. Each partner's listing follows its own redemption in
    /// the same slot, with the Graph token that redemption cached, while the rotated refresh
    /// token is written; a slot is refilled as soon as its listing is in, in any order, and
    /// the writes are waited for (the keepalive findings) once every slot is done, so no slot
    /// waits for the slowest partner nor for a write. Keepalive findings go to `out` in the
    /// partners' order; the GDAP findings are returned (the configured partner's, then the
    /// others' in the partners' order), for the cycle to add after the credentials'. Another
    /// partner's relationships are listed only when its redemption succeeded; the configured
    /// partner's always (its error is the GDAP check's). A redemption cut short leaves its
    /// rotated token's write to the broker, which finishes it.
    pub async fn keepalive_and_gdap(&self, partners: &[String], out: &mut Outcome) -> Outcome {
        let configured = &self.ctx.partner;
        let mut redeemed: Vec<Option<Result<(), BrokerError>>> =
            partners.iter().map(|_| None).collect();
        let mut slots = stream::iter(partners.iter().enumerate())
            .map(|(i, partner)| {
                // The keepalive's one redemption (and rotation) of the partner's refresh token, for
                // Graph at the partner's own authority, whatever token is cached; the access
                // token is cached, so the listing and the cycle's Graph checks use it: one
                // redemption per partner per cycle.
                // Each partner's redemption and listing run as a task of their own, so several
                // partners' pages are parsed on the runtime's workers at once; a task whose
                // cycle is cancelled finishes on its own, as the broker's writes do.
                let own = partner.eq_ignore_ascii_case(configured);
                let graph = if own {
                    Some(self.graph.clone())
                } else {
                    self.partner_graph(partner)
                };
                let broker = self.ctx.broker.clone();
                let name = partner.clone();
                let task = tokio::spawn(async move {
                    let redeemed = broker.refresh_delegated_token(&name, Resource::Graph).await;
                    let listing = Listing::fetch(graph, own, redeemed.is_ok()).await;
                    (redeemed, listing)
                });
                async move { (i, partner, own, task.await) }
            })
            .buffer_unordered(self.concurrency.max(1));
        let mut own = None;
        let mut others = Gathered::default();
        let mut left = partners.len();
        while let Some((i, partner, is_own, joined)) = slots.next().await {
            left -= 1;
            let (result, listing) = match joined {
                Ok(done) => done,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down: the partner is left out of this cycle.
                Err(_) => continue,
            };
            if is_own {
                let mut gdap = Outcome::default();
                self.take_listing(&mut gdap, partner, listing);
                own = Some(gdap);
            } else {
                if let Listing::Other(Ok(listed)) = &listing {
                    // Room, as a guess, for as many from each partner still to come, and for
                    // the findings the cycle moves in front of these (those found before, the
                    // keepalive's, the configured partner's).
                    let extra = out.findings.len() + partners.len() + listed.len() + 64;
                    others.reserve(listed.len(), left + 1, extra);
                }
                let rank = u32::try_from(i).unwrap_or(u32::MAX);
                others.take(rank, |gdap| self.take_listing(gdap, partner, listing));
            }
            if let Some(slot) = redeemed.get_mut(i) {
                *slot = Some(result);
            }
        }
        drop(slots);
        for (partner, result) in partners.iter().zip(redeemed) {
            let Some(result) = result else {
                continue;
            };
            // `status` waits for the rotated token's write, long done for all but the last.
            let settled = match result {
                Ok(()) => Ok(self.ctx.broker.status(partner).await),
                Err(e) => Err(e),
            };
            self.kept_alive(out, partner, settled);
        }
        let mut gdap = match own {
            Some(own) => own,
            None => {
                // The configured partner has no stored grant among those kept alive: its
                // listing says why (the GDAP check's error), as every cycle's does.
                let mut own = Outcome::default();
                self.list_relationships(&mut own, None).await;
                own
            }
        };
        gdap.absorb(others.into_ordered());
        gdap
    }

    /// The keepalive finding of `partner`.
    fn kept_alive(
        &self,
        out: &mut Outcome,
        partner: &str,
        result: Result<GrantStatus, BrokerError>,
    ) {
        match result {
            Ok(status) if status.persisted => {
                *out.keepalive.entry("ok").or_default() += 1;
                out.kept_alive.push(partner.to_owned());
                out.push(
                    KEEPALIVE,
                    partner,
                    State::Ok,
                    "refresh token redeemed and rotated",
                    None,
                );
            }
            Ok(status) => {
                *out.keepalive.entry("ok").or_default() += 1;
                out.push(KEEPALIVE, partner, State::Warning, format!(
                    "redeemed, but the rotated refresh token could not be stored ({}); the previous one is kept",
                    status.last_store_error.as_deref().unwrap_or("unknown error")
                ), None);
            }
            Err(e) if e.remedy().needs_consent() => {
                *out.keepalive.entry("reconsent").or_default() += 1;
                out.needs_consent = true;
                let mut message = format!("the partner must consent again: {e}");
                if let Some(url) = e.consent_page() {
                    message.push_str(&format!("; consent at {url}"));
                }
                out.push(KEEPALIVE, partner, State::Critical, message, None);
            }
            Err(e) => {
                *out.keepalive.entry("failed").or_default() += 1;
                out.error(KEEPALIVE, partner, format!("keepalive failed: {e}"));
            }
        }
    }

    /// c) Expiry of the app's credentials, and of the Key Vault identity's app when it has any,
    /// read from the registrations when the partner's token may read them ([`GraphAccess`]).
    /// Otherwise (least privilege, or Graph cannot read them) the certificate the app is
    /// configured with is still watched, from its file.
    pub async fn credentials(&self, out: &mut Outcome, access: &GraphAccess) {
        let settings = &self.ctx.settings;
        let mut apps = vec![settings.app.client_id.clone()];
        if let Some(id) = store_identity_app(&settings.store)
            && !apps.iter().any(|a| a == id)
        {
            apps.push(id.to_owned());
        }
        for app_id in apps {
            let read = if access.reads_registration() {
                self.registration_credentials(out, &app_id).await
            } else {
                out.skipped(CREDENTIALS, app_id.as_str(), REGISTRATION_SKIPPED);
                false
            };
            if !read && app_id == settings.app.client_id {
                self.configured_certificate(out, &app_id);
            }
        }
    }

    /// The certificates and secrets of `app_id`'s registration; whether it could be read.
    async fn registration_credentials(&self, out: &mut Outcome, app_id: &str) -> bool {
        match self.graph.get_application_by_app_id(app_id).await {
            Ok(Some(app)) => {
                let certs = app
                    .key_credentials
                    .iter()
                    .map(|k| ("certificate", &k.key_id, &k.display_name, &k.end_date_time));
                let secrets = app
                    .password_credentials
                    .iter()
                    .map(|p| ("secret", &p.key_id, &p.display_name, &p.end_date_time));
                for (kind, key_id, name, end) in certs.chain(secrets) {
                    let Some(end) = end.as_deref().and_then(unix) else {
                        continue;
                    };
                    let key_id = key_id.as_deref().unwrap_or("unknown");
                    // The finding's subject names the app, the kind and the key ID.
                    let what = match name.as_deref().filter(|n| !n.is_empty()) {
                        Some(name) => format!("{kind} \"{name}\""),
                        None => kind.to_owned(),
                    };
                    self.credential(out, (app_id, kind, key_id), &what, end);
                }
                return true;
            }
            Ok(None) => out.refused(
                CREDENTIALS,
                app_id,
                format!("no app registration with appId {app_id} in the partner tenant"),
            ),
            Err(e) if e.status() == Some(403) => out.refused(
                CREDENTIALS,
                app_id,
                format!(
                    "Microsoft Graph refused to read the app registration: {APPLICATION_READ_FIX}"
                ),
            ),
            Err(e) => out.error(
                CREDENTIALS,
                app_id,
                format!("cannot read the app registration: {e}"),
            ),
        }
        false
    }

    /// One credential ending at `end`: its gauge and finding.
    fn credential(
        &self,
        out: &mut Outcome,
        (app_id, kind, key_id): (&str, &str, &str),
        what: &str,
        end: i64,
    ) {
        let left = end - self.now;
        out.gauges.push(Sample::new(
            "sam_credential_expiry_seconds",
            &[("app", app_id), ("kind", kind), ("key_id", key_id)],
            left,
        ));
        let state = self.thresholds.state(left);
        let mut message = ends(what, left);
        if state != State::Ok {
            message.push_str(if kind == "certificate" {
                ": run setup again to create and register a new certificate"
            } else {
                ": add a new client secret (or better, a certificate) and update the configuration"
            });
        }
        out.push(
            CREDENTIALS,
            format!("{app_id}/{kind}/{key_id}"),
            state,
            message,
            Some(left),
        );
    }

    /// The certificate file the app signs in with (`app.certificate_path`), keyed by its
    /// thumbprint: what can be watched without reading the registration.
    fn configured_certificate(&self, out: &mut Outcome, app_id: &str) {
        let Some(path) = self.certificate_file() else {
            return;
        };
        match AppCertificate::read(path) {
            Ok(cert) => {
                // The finding's subject names the app and the thumbprint.
                let what = format!("certificate {} (file {})", cert.subject, path.display());
                self.credential(
                    out,
                    (app_id, "certificate", &cert.thumbprint),
                    &what,
                    cert.not_after,
                );
            }
            Err(e) => out.error(
                CREDENTIALS,
                path.display().to_string(),
                format!("cannot read the app's certificate: {e}"),
            ),
        }
    }

    /// The PEM certificate file the app signs in with, if it has one.
    fn certificate_file(&self) -> Option<&std::path::Path> {
        let AppCredential::Certificate(c) = &self.ctx.settings.app.credential else {
            return None;
        };
        match &c.source {
            CertificateSource::Pem { certificate, .. } => Some(certificate),
            _ => None,
        }
    }

    /// d) The GDAP relationships of `partner` (`None`: the configured one, with the cycle's
    /// Graph client; another with the Graph token its keepalive cached): expiry and
    /// auto-extension of active ones, expired ones, ones stuck in a transitional status.
    async fn list_relationships(&self, out: &mut Outcome, partner: Option<&str>) {
        let (graph, own) = match partner {
            None => (Some(self.graph.clone()), true),
            Some(p) => (self.partner_graph(p), false),
        };
        let listing = Listing::fetch(graph, own, true).await;
        self.take_listing(out, partner.unwrap_or(&self.ctx.partner), listing);
    }

    /// The findings of a listing of `partner`'s relationships.
    fn take_listing(&self, out: &mut Outcome, partner: &str, listing: Listing) {
        match listing {
            // The configured partner's are kept whole too: the access check reads them.
            Listing::Own(Ok(all)) => {
                let listed = all.iter().map(Listed::from).collect();
                out.own = all;
                self.relationships(out, None, Ok(listed));
            }
            Listing::Own(Err(e)) => self.relationships(out, None, Err(e)),
            Listing::Other(listed) => self.relationships(out, Some(partner), listed),
            Listing::Skipped => {}
        }
    }

    /// Graph as `partner` (its stored grant), with the watch's retry policy.
    fn partner_graph(&self, partner: &str) -> Option<GraphClient> {
        let base = self.ctx.settings.cloud.base_url(Resource::Graph)?.clone();
        let tokens = BrokerTokens::new(self.ctx.broker.clone(), partner);
        Some(GraphClient::new(
            base,
            self.ctx.http.clone(),
            Arc::new(tokens),
            GraphOptions {
                retry: super::watch_retry_policy(),
            },
        ))
    }

    /// The findings and gauges of one partner's listed relationships (`partner`: `None` for the
    /// configured one), kept for the console.
    fn relationships(
        &self,
        out: &mut Outcome,
        partner: Option<&str>,
        listed: Result<Vec<Listed>, GraphError>,
    ) {
        let (subject, of) = match partner {
            None => ("relationships".to_owned(), String::new()),
            Some(p) => (format!("relationships of {p}"), format!(" of partner {p}")),
        };
        let relationships = match listed {
            Ok(r) => r,
            Err(e) if e.status() == Some(403) => {
                return out.refused(
                    GDAP,
                    subject,
                    format!("Microsoft Graph refused to list the GDAP relationships{of}: {e}"),
                );
            }
            Err(e) => {
                return out.error(
                    GDAP,
                    subject,
                    format!("cannot list the GDAP relationships{of}: {e}"),
                );
            }
        };
        for listed in relationships {
            let mut r = out.interner.keep(listed);
            let what = format!(
                "GDAP relationship \"{}\" with {}",
                r.display_name,
                r.customer_label()
            );
            match (&*r.status, r.end) {
                ("active", Some(end)) => {
                    // Its two gauges are rendered from the cycle's snapshot at each scrape
                    // ([`active_expiry`]), not kept as labelled samples: two per relationship.
                    let left = end - self.now;
                    let (state, message) = if r.auto_extend_days.is_some() {
                        (State::Ok, format!("{what} ends in {}, then extends automatically", days(left)))
                    } else {
                        let state = self.thresholds.state(left);
                        let mut m = format!("{} and does not extend automatically", ends(&what, left));
                        if state != State::Ok {
                            m.push_str(": turn auto-extend on (csp-app gdap extend) or create a new relationship for the customer to approve");
                        }
                        (state, m)
                    };
                    out.push(GDAP, r.id.clone(), state, message, Some(left));
                }
                ("expired" | "expiring", end) => out.push(GDAP, r.id.clone(), State::Critical, format!("{what} expired: the partner has no roles through it; create a new relationship for the customer to approve"), end.map(|e| e - self.now)),
                (status, _) if relationship_status::is_transitional(status) => self.transitional(out, &r, &what),
                _ => {}
            }
            r.state = out
                .findings
                .last()
                .filter(|f| f.check == GDAP && *f.subject == *r.id)
                .map(|f| f.state);
            out.relationships.push(shared(self.previous, r));
        }
    }

    /// A relationship in a status Graph leaves by itself (docs/microsoft-behaviour.md §6.2a):
    /// fine for a while, a warning once it has stayed longer than the threshold (since its
    /// `lastModifiedDateTime`, when Graph last changed it).
    fn transitional(&self, out: &mut Outcome, r: &Relationship, what: &str) {
        let Some(since) = r.last_modified else {
            return out.push(
                GDAP,
                r.id.clone(),
                State::Ok,
                format!("{what} is {}", r.status),
                None,
            );
        };
        let age = (self.now - since).max(0);
        let labels = [("relationship", &*r.id), ("status", &*r.status)];
        out.gauges.push(Sample::new(
            "sam_gdap_relationship_transitional_seconds",
            &labels,
            age,
        ));
        let minutes = age / 60;
        if age > self.thresholds.gdap_stuck {
            out.push(GDAP, r.id.clone(), State::Warning, format!("{what} has been {} for {minutes} min, longer than the {} min Microsoft usually takes: check it in Partner Center and open a support request if it stays so", r.status, self.thresholds.gdap_stuck / 60), None);
        } else {
            out.push(
                GDAP,
                r.id.clone(),
                State::Ok,
                format!(
                    "{what} is {} (for {minutes} min; Graph completes it on its own)",
                    r.status
                ),
                None,
            );
        }
    }

    /// e) Permission drift: the scopes of the partner's Graph token (the doctor's `token.graph`
    /// check, on the keepalive's token) and, when the token may read the registration, the
    /// doctor's registration and grant checks, run with the watch's Graph client; else one
    /// `skipped` finding saying how to turn them on.
    pub async fn permissions(&self, out: &mut Outcome, access: &GraphAccess) {
        match access {
            GraphAccess::Token(claims) => {
                let check = doctor::token::scope_check(
                    &self.ctx.settings,
                    "token.graph",
                    Resource::Graph,
                    claims,
                );
                doctor_finding(out, check);
            }
            GraphAccess::Unavailable(e) => out.error(
                PERMISSIONS,
                "token.graph",
                format!("no Microsoft Graph token for the partner: {e}"),
            ),
        }
        if !access.reads_registration() {
            return out.skipped(PERMISSIONS, "registration", REGISTRATION_SKIPPED);
        }
        let cert = self
            .certificate_file()
            .and_then(|path| AppCertificate::read(path).ok());
        let checks =
            doctor::registration::checks(&self.ctx.settings, self.graph, cert.as_ref()).await;
        for check in checks {
            doctor_finding(out, check);
        }
    }
}

/// A doctor check as a `permissions` finding: its status as the state, a check that could not
/// read as `unknown` (a refusal with the permission to grant), by its typed [`Unread`].
fn doctor_finding(out: &mut Outcome, check: doctor::Check) {
    let mut message = check.detail;
    if let Some(fix) = &check.fix {
        message.push_str(&format!("; fix: {fix}"));
    }
    let state = match (check.unread, check.status) {
        (Some(Unread::Refused), _) => {
            message.push_str(&format!("; {APPLICATION_READ_FIX}"));
            return out.refused(PERMISSIONS, check.id, message);
        }
        (Some(Unread::Failed), _) => return out.error(PERMISSIONS, check.id, message),
        (None, doctor::Status::Skip) => return out.skipped(PERMISSIONS, check.id, message),
        (None, doctor::Status::Pass) => State::Ok,
        (None, doctor::Status::Warn) => State::Warning,
        (None, doctor::Status::Fail) => State::Critical,
    };
    out.push(PERMISSIONS, check.id, state, message, None);
}

/// The app the Key Vault store signs in as, when it has a credential that expires (managed and
/// workload identities have none).
fn store_identity_app(store: &StoreSettings) -> Option<&str> {
    match store {
        StoreSettings::KeyVault(kv) => match &kv.identity {
            KeyVaultIdentity::ClientSecret { client_id, .. }
            | KeyVaultIdentity::ClientCertificate { client_id, .. } => Some(client_id),
            _ => None,
        },
        StoreSettings::Local(_) => None,
    }
}
