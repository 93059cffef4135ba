//! `MS-RequestId` per attempt, as Partner Center documents it (develop/headers.md: the request
//! ID is the idempotency key, reused only to retry a request that timed out) and
//! `MS-CorrelationId` per operation. The service here is a real HTTP server on port 0 that
//! answers the first attempt 429, lets the second time out, and answers the third; it records
//! what each attempt carried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::config::HttpSettings;
use common::http::{RetryPolicy, StaticToken};
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::secret::AccessToken;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `(MS-RequestId, MS-CorrelationId)` of each attempt, in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn header(request: &str, name: &str) -> String {
    request
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

async fn serve(listener: tokio::net::TcpListener, seen: Seen) {
    let mut attempt = 0;
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        attempt += 1;
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            seen.lock().unwrap().push((
                header(&request, "MS-RequestId"),
                header(&request, "MS-CorrelationId"),
            ));
            let response = match attempt {
                1 => "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_owned(),
                2 => {
                    // Longer than the client's request timeout: the attempt times out.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    return;
                }
                _ => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_owned(),
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

#[tokio::test]
async fn a_new_request_id_per_attempt_except_after_a_timeout_and_one_correlation_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let seen: Seen = Arc::default();
    tokio::spawn(serve(listener, seen.clone()));
    let http = common::http::build_client(&HttpSettings {
        request_timeout: Duration::from_millis(500),
        ..HttpSettings::default()
    })
    .unwrap();
    let client = PartnerCenterClient::new(
        base,
        http,
        Arc::new(StaticToken(AccessToken::new("t".to_owned()))),
        PartnerCenterOptions {
            retry: RetryPolicy {
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
                ..RetryPolicy::default()
            },
            ..PartnerCenterOptions::default()
        },
    );
    client
        .get_raw("/v1/customers")
        .await
        .expect("the third attempt is answered");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (first, second, third) = (&seen[0], &seen[1], &seen[2]);
    assert!(uuid::Uuid::parse_str(&first.0).is_ok(), "{seen:?}");
    assert_ne!(first.0, second.0, "a retry after a 429 is a new request");
    assert_eq!(
        second.0, third.0,
        "a retry after a timeout reuses the request ID"
    );
    assert!(
        first.1 == second.1 && second.1 == third.1,
        "one correlation ID: {seen:?}"
    );
}
