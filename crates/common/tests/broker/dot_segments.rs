//! IDs that are URL dot segments: `csp-app gdap show ..` must not read the relationships'
//! parent collection. Every path segment the Graph and Partner Center clients build from an ID
//! refuses `.`, `..` and the empty ID before anything is sent (a `url` parser, and every server,
//! would resolve them away; `%2E%2E` is a dot segment too, so encoding is no answer).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::config::HttpSettings;
use common::graph::{GraphClient, GraphOptions};
use common::http::{StaticToken, Tenant};
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::secret::AccessToken;
use futures::TryStreamExt as _;

/// A server that only counts the connections it gets (it answers none).
async fn counting_server() -> (url::Url, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (base, count)
}

fn refused<T: std::fmt::Debug, E: std::fmt::Display>(id: &str, what: &str, r: Result<T, E>) {
    let e = r.expect_err(what).to_string();
    assert!(
        e.contains("is not a valid ID") && e.contains(&format!("{id:?}")),
        "{what} {id:?}: {e}"
    );
}

#[tokio::test]
async fn dot_and_empty_ids_are_refused_before_any_request() {
    let (base, connections) = counting_server().await;
    let http = common::http::build_client(&HttpSettings::default()).unwrap();
    let token = Arc::new(StaticToken(AccessToken::new("t".to_owned())));
    let pc = PartnerCenterClient::new(
        base.clone(),
        http.clone(),
        token.clone(),
        PartnerCenterOptions::default(),
    );
    let graph = GraphClient::new(base, http, token, GraphOptions::default());
    for id in ["..", ".", ""] {
        refused(id, "get_customer", pc.get_customer(id).await);
        refused(
            id,
            "list_customer_users",
            pc.list_customer_users(id).try_collect::<Vec<_>>().await,
        );
        refused(
            id,
            "list_subscriptions",
            pc.list_subscriptions(id).try_collect::<Vec<_>>().await,
        );
        refused(
            id,
            "delete_application_consent",
            pc.delete_application_consent("c", id).await,
        );
        refused(
            id,
            "get_delegated_admin_relationship",
            graph.get_delegated_admin_relationship(id).await,
        );
        refused(id, "get_user", graph.get_user(Tenant::Partner, id).await);
        refused(
            id,
            "list_access_assignments",
            graph
                .list_access_assignments(id)
                .try_collect::<Vec<_>>()
                .await,
        );
        refused(id, "lock_for_approval", graph.lock_for_approval(id).await);
        refused(
            id,
            "terminate_delegated_admin_relationship",
            graph.terminate_delegated_admin_relationship(id).await,
        );
    }
    assert_eq!(pc.stats().requests, 0, "{:?}", pc.stats());
    assert_eq!(graph.stats().requests, 0, "{:?}", graph.stats());
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}
