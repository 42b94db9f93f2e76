//! Google Ads uploads under the sandbox's shared faults, rate limit and latency, over real HTTP on
//! loopback: each answering fault in Google's words, and held answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::google_ads::{
    CUSTOMER, DEV_TOKEN, REFRESH, access_token, conversion, conversions, google_config,
    send_google, start_google, upload, upload_body, upload_path,
};
use common::{get_json, post_json, start_with};
use serde_json::json;
use signalpost_google_ads::{Outcome, classify};
use signalpost_sandbox::{Latency, SandboxConfig};

/// Every answering fault, in Google's words, in injection order; each classifies as the gateway needs.
#[tokio::test]
async fn faults_answer_in_googles_shape() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let kinds = [
        "rate_limit",
        "token_revoked",
        "no_permission",
        "server_error",
        "http_502",
        "http_500",
    ];
    for kind in kinds {
        let injected = post_json(
            &sandbox,
            "/sandbox/faults",
            &json!({"kind": kind, "count": 1}),
        )
        .await;
        assert_eq!(injected.status, 201, "{}", injected.text);
    }
    let body = upload_body(conversions(1));
    let expected = [
        (
            429,
            Some((
                "RESOURCE_EXHAUSTED",
                "quotaError",
                "RESOURCE_TEMPORARILY_EXHAUSTED",
            )),
            Outcome::Retryable,
        ),
        (
            401,
            Some((
                "UNAUTHENTICATED",
                "authenticationError",
                "OAUTH_TOKEN_REVOKED",
            )),
            Outcome::Auth,
        ),
        (
            403,
            Some((
                "PERMISSION_DENIED",
                "authorizationError",
                "DEVELOPER_TOKEN_NOT_APPROVED",
            )),
            Outcome::Auth,
        ),
        (
            500,
            Some(("INTERNAL", "internalError", "INTERNAL_ERROR")),
            Outcome::Retryable,
        ),
        (502, None, Outcome::Retryable),
        (500, None, Outcome::Retryable),
    ];
    for (status, google, outcome) in expected {
        let answer = upload(&sandbox, &token, &body).await;
        match google {
            Some((rpc, kind, code)) => {
                answer.ads_error(status, rpc, kind, code);
            }
            None => {
                assert_eq!(answer.status, status);
                assert!(
                    answer.content_type.starts_with("text/html"),
                    "{}",
                    answer.content_type
                );
            }
        }
        assert_eq!(
            classify(answer.status, answer.text.as_bytes()).outcome,
            outcome,
            "{status}"
        );
    }
    assert_eq!(upload(&sandbox, &token, &body).await.status, 200);
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["by_code"]["google_429"], 1, "{stats}");
    assert_eq!(stats["by_code"]["http_502"], 1, "{stats}");
    assert_eq!(
        stats["by_destination"]["google_ads"]["requests"], 7,
        "{stats}"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429() {
    let sandbox = start_with(SandboxConfig {
        max_rps: Some(1),
        ..google_config()
    })
    .await;
    let token = access_token(&sandbox, REFRESH).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let answer = upload(
            &sandbox,
            &token,
            &upload_body(vec![conversion(&format!("r{i}"), &format!("r{i}"))]),
        )
        .await;
        if answer.status != 200 {
            answer.ads_error(
                429,
                "RESOURCE_EXHAUSTED",
                "quotaError",
                "RESOURCE_TEMPORARILY_EXHAUSTED",
            );
        }
        statuses.push(answer.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// Latency holds the answer (and the token endpoint is never held): a client that gives up first
/// sees a timeout. No duration is asserted: the sandbox holds for a minute, the client waits 300 ms.
#[tokio::test]
async fn latency_holds_google_answers_but_not_the_token_endpoint() {
    let sandbox = start_with(SandboxConfig {
        latency: Latency::constant(60_000).unwrap(),
        ..google_config()
    })
    .await;
    let token = access_token(&sandbox, REFRESH).await;
    let bearer = format!("Bearer {token}");
    let held = send_google(
        &sandbox,
        &upload_path(CUSTOMER),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
            ("developer-token", DEV_TOKEN),
        ],
        serde_json::to_vec(&upload_body(conversions(1))).unwrap(),
        Some(Duration::from_millis(300)),
    )
    .await;
    assert!(held.is_err_and(|e| e.is_timeout()));
    assert!(common::eventually(|| sandbox.stats().peak_concurrent_requests >= 1).await);
}

#[tokio::test]
async fn a_slow_fault_holds_google_answers_too() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let injected = post_json(
        &sandbox,
        "/sandbox/faults",
        &json!({"kind": "slow", "latency_ms": "60000", "count": 1}),
    )
    .await;
    assert_eq!(injected.status, 201, "{}", injected.text);
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
        ("developer-token", DEV_TOKEN),
    ];
    let body = serde_json::to_vec(&upload_body(conversions(1))).unwrap();
    let held = send_google(
        &sandbox,
        &upload_path(CUSTOMER),
        &headers,
        body.clone(),
        Some(Duration::from_millis(300)),
    )
    .await;
    assert!(held.is_err_and(|e| e.is_timeout()));
    let next = send_google(&sandbox, &upload_path(CUSTOMER), &headers, body, None)
        .await
        .unwrap();
    assert_eq!(next.status, 200, "{}", next.text);
}
