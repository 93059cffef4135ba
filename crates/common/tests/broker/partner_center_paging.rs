//! Partner Center paging as documented: a customer's users come in pages whose `links.next.uri`
//! lacks the API root (`/customers/{id}/users?...`, develop/get-a-list-of-all-user-accounts-for-
//! a-customer.md); the client adds `/v1` as Microsoft's SDK does and follows every page.

use std::sync::Arc;

use common::config::EndpointVersion;
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::tokens::BrokerTokens;
use emulator::partner_data::generate::generated_tenant_id;
use emulator::seed::ids;
use futures::TryStreamExt as _;

use crate::helpers::{ADMIN, Cred, spawn_with};

#[tokio::test]
async fn every_page_of_a_customer_s_users_is_followed_through_links_without_the_api_root() {
    // 230 users: three pages of the default size (100).
    let env = spawn_with(|mut c| {
        c.seed = c
            .seed
            .with_generated_customers(1, 230)
            .expect("a generated seed");
        c
    })
    .await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store);
    env.consent(&broker, ADMIN).await;
    let client = PartnerCenterClient::new(
        env.cloud.partner_center.clone(),
        env.http.clone(),
        Arc::new(BrokerTokens::new(broker.clone(), ids::PARTNER_TENANT)),
        PartnerCenterOptions::default(),
    );
    let users: Vec<_> = client
        .list_customer_users(&generated_tenant_id(1))
        .try_collect()
        .await
        .expect("every page is followed");
    assert_eq!(users.len(), 230);
    assert_eq!(client.stats().requests, 3, "{:?}", client.stats());
}
