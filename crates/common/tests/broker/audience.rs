//! A token's audience is the API's App ID URI, not the URL the API is reached at: a `custom`
//! cloud whose Partner Center and Graph answer behind another URL (an API gateway, a proxy, here
//! the emulator under `localhost`) still asks Entra for `https://api.partnercenter.microsoft.com`
//! and `https://graph.microsoft.com`, the only identifiers the emulator's directory registers for
//! them, as Entra's does (docs/microsoft-behaviour.md §6.1a).

use std::sync::Arc;

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::graph::{GraphClient, GraphOptions};
use common::http::Tenant;
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::secret::ExposeSecret as _;
use common::tokens::BrokerTokens;
use emulator::ResourceKind;
use emulator::seed::ids;
use futures::TryStreamExt as _;

use crate::helpers::{ADMIN, Cred, spawn};

#[tokio::test]
async fn apis_behind_another_url_get_tokens_for_their_app_id_uris_and_answer() {
    for version in [EndpointVersion::V1, EndpointVersion::V2] {
        let mut env = spawn().await;
        let port = env.emu.port();
        // Another URL than any the emulator's directory knows Partner Center or Graph by.
        let behind = |path: &str| url::Url::parse(&format!("https://localhost:{port}/{path}"));
        env.cloud.partner_center = behind("partnercenter").unwrap();
        env.cloud.graph = behind("graph").unwrap();
        assert_eq!(
            env.cloud.resource_id(Resource::PartnerCenter).as_deref(),
            Some("https://api.partnercenter.microsoft.com")
        );
        let broker = env.broker(version, Cred::Secret, env.local_store());
        env.consent(&broker, ADMIN).await;

        let pc_token = broker
            .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
            .await
            .unwrap_or_else(|e| panic!("{version:?}: a Partner Center token: {e}"));
        let t = env
            .emu
            .validate_access_token(pc_token.expose_secret(), &[ResourceKind::PartnerCenter])
            .unwrap();
        assert_eq!(t.audience, "https://api.partnercenter.microsoft.com");
        let tokens = Arc::new(BrokerTokens::new(broker.clone(), ids::PARTNER_TENANT));
        let pc = PartnerCenterClient::new(
            env.cloud.partner_center.clone(),
            env.http.clone(),
            tokens.clone(),
            PartnerCenterOptions::default(),
        );
        let customers: Vec<_> = pc
            .list_customers(10, None)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{version:?}: Partner Center behind localhost: {e}"));
        assert!(!customers.is_empty(), "{version:?}");

        let graph = GraphClient::new(
            env.cloud.graph.clone(),
            env.http.clone(),
            tokens,
            GraphOptions::default(),
        );
        let me = graph
            .get_user(Tenant::Partner, ADMIN)
            .await
            .unwrap_or_else(|e| panic!("{version:?}: Graph behind localhost: {e}"));
        assert_eq!(
            me.user_principal_name.as_deref(),
            Some(ADMIN),
            "{version:?}"
        );
    }
}
