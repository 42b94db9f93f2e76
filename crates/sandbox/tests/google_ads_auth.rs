//! Google Ads' token endpoint and the credentials of an upload over real HTTP on loopback: the
//! refresh-token exchange and its refusals, the access token (missing, never issued, expired, then
//! refreshed), the customer, its developer token and the manager header.
#![allow(clippy::unwrap_used)]

mod common;

use common::google_ads::{
    ACTION, CUSTOMER, DEV_TOKEN, OTHER_CUSTOMER, OTHER_DEV_TOKEN, REFRESH, access_token,
    conversion, conversions, grant, send_google, start_google, token_request, upload, upload_as,
    upload_body,
};
use common::{get_json, post_json};
use serde_json::json;
use signalpost_google_ads::{Outcome, classify};

#[tokio::test]
async fn exchanges_a_refresh_token_for_a_bearer_token_valid_3599_seconds() {
    let sandbox = start_google().await;
    let fields = grant(REFRESH);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = token_request(&sandbox, &pairs).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "https://www.googleapis.com/auth/adwords");
    let first = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(
        access_token(&sandbox, REFRESH).await,
        first,
        "each exchange issues a fresh token"
    );
    assert_eq!(sandbox.google_ads_tokens_issued(), 2);
    assert_eq!(
        upload(&sandbox, &first, &upload_body(conversions(1)))
            .await
            .status,
        200
    );
}

/// Each refusal of the token endpoint, in RFC 6749's shape.
#[tokio::test]
async fn refuses_bad_token_requests_like_googles_token_endpoint() {
    let sandbox = start_google().await;
    let post = post_json(
        &sandbox,
        "/sandbox/google-ads/refresh-tokens",
        &json!({"refresh_token": "1//revoked", "revoked": true}),
    )
    .await;
    assert_eq!(post.status, 200, "{}", post.text);
    assert!(!post.text.contains("1//revoked"), "{}", post.text);
    let with = |key: &str, value: &str| -> Vec<(&'static str, String)> {
        grant(REFRESH)
            .into_iter()
            .map(|(k, v)| {
                if k == key {
                    (k, value.to_owned())
                } else {
                    (k, v)
                }
            })
            .filter(|(_, v)| v != "<absent>")
            .collect()
    };
    for (fields, error, description) in [
        (
            with("grant_type", "authorization_code"),
            "unsupported_grant_type",
            "Invalid grant_type",
        ),
        (
            with("grant_type", "<absent>"),
            "invalid_request",
            "grant_type",
        ),
        (
            with("client_id", "<absent>"),
            "invalid_request",
            "client_id",
        ),
        (
            with("client_secret", ""),
            "invalid_request",
            "client_secret",
        ),
        (
            with("refresh_token", "<absent>"),
            "invalid_request",
            "refresh_token",
        ),
        (
            with("refresh_token", "1//revoked"),
            "invalid_grant",
            "Token has been expired or revoked.",
        ),
    ] {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = token_request(&sandbox, &pairs).await;
        assert_eq!(answer.status, 400, "{fields:?}: {}", answer.text);
        let body = answer.json();
        assert_eq!(body["error"], error, "{fields:?}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(description),
            "{body}"
        );
    }
    let json_body = send_google(
        &sandbox,
        "/token",
        &[("Content-Type", "application/json")],
        b"{}".to_vec(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(json_body.json()["error"], "invalid_request");
    post_json(
        &sandbox,
        "/sandbox/google-ads/refresh-tokens",
        &json!({"refresh_token": "1//revoked", "revoked": false}),
    )
    .await;
    access_token(&sandbox, "1//revoked").await;
}

/// 401 in Google's envelope for a missing, unknown or expired access token; a fresh one works.
#[tokio::test]
async fn uploads_need_an_issued_unexpired_access_token() {
    let sandbox = start_google().await;
    let body = upload_body(conversions(1));
    let missing = upload_as(&sandbox, CUSTOMER, None, Some(DEV_TOKEN), &[], &body).await;
    let error = missing.google_error(401, "UNAUTHENTICATED");
    assert!(error.get("details").is_none(), "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("missing required authentication credential")
    );
    upload(&sandbox, "ya29.never-issued", &body)
        .await
        .ads_error(
            401,
            "UNAUTHENTICATED",
            "authenticationError",
            "OAUTH_TOKEN_INVALID",
        );

    let token = access_token(&sandbox, REFRESH).await;
    assert_eq!(upload(&sandbox, &token, &body).await.status, 200);
    let expired = post_json(
        &sandbox,
        "/sandbox/google-ads/expire-access-tokens",
        &json!({}),
    )
    .await;
    assert_eq!(expired.json()["expired"], 1, "{}", expired.text);
    let answer = upload(&sandbox, &token, &upload_body(vec![conversion("g9", "o9")])).await;
    answer.ads_error(
        401,
        "UNAUTHENTICATED",
        "authenticationError",
        "OAUTH_TOKEN_EXPIRED",
    );
    let classified = classify(answer.status, answer.text.as_bytes());
    assert_eq!(classified.outcome, Outcome::Auth);
    assert!(
        classified.message.contains("OAUTH_TOKEN_EXPIRED"),
        "{}",
        classified.message
    );

    // What a gateway does: refresh once, then succeed.
    let fresh = access_token(&sandbox, REFRESH).await;
    assert_eq!(
        upload(&sandbox, &fresh, &upload_body(vec![conversion("g9", "o9")]))
            .await
            .status,
        200
    );
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["by_code"]["google_401"], 3, "{stats}");
    assert_eq!(
        stats["by_destination"]["google_ads"]["rejected_requests"], 3,
        "{stats}"
    );
}

/// HTTP status, gRPC status, error kind and code of a refusal.
type Refusal = (u16, &'static str, &'static str, &'static str);
const PROHIBITED: Refusal = (
    403,
    "PERMISSION_DENIED",
    "authorizationError",
    "DEVELOPER_TOKEN_PROHIBITED",
);
const NO_ACCESS: Refusal = (
    403,
    "PERMISSION_DENIED",
    "authorizationError",
    "USER_PERMISSION_DENIED",
);
const BAD_CUSTOMER_ID: Refusal = (
    400,
    "INVALID_ARGUMENT",
    "requestError",
    "INVALID_CUSTOMER_ID",
);

/// The customer, its developer token and the optional manager header, each refused in Google's words.
#[tokio::test]
async fn checks_the_customer_and_its_developer_token() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let body = upload_body(conversions(1));
    let no_headers: &[(&str, &str)] = &[];
    let bad_manager: &[(&str, &str)] = &[("login-customer-id", "111-222-3333")];
    let cases = [
        (CUSTOMER, Some("wrong-dev-token"), no_headers, PROHIBITED),
        (CUSTOMER, None, no_headers, PROHIBITED),
        (CUSTOMER, Some(OTHER_DEV_TOKEN), no_headers, PROHIBITED),
        ("3456789012", Some(DEV_TOKEN), no_headers, NO_ACCESS),
        ("123-456-7890", Some(DEV_TOKEN), no_headers, BAD_CUSTOMER_ID),
        (CUSTOMER, Some(DEV_TOKEN), bad_manager, BAD_CUSTOMER_ID),
    ];
    for (customer, dev, extra, (status, rpc, kind, code)) in cases {
        let answer = upload_as(&sandbox, customer, Some(&token), dev, extra, &body).await;
        answer.ads_error(status, rpc, kind, code);
        let expected = if status == 403 {
            Outcome::Auth
        } else {
            Outcome::Invalid
        };
        assert_eq!(
            classify(answer.status, answer.text.as_bytes()).outcome,
            expected,
            "{code}"
        );
    }
    let manager = [("login-customer-id", "9999999999")];
    let ok = upload_as(
        &sandbox,
        CUSTOMER,
        Some(&token),
        Some(DEV_TOKEN),
        &manager,
        &body,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // The other customer's conversion actions belong to it.
    let mut theirs = conversion("gx", "ox");
    theirs["conversionAction"] = json!(format!(
        "customers/{OTHER_CUSTOMER}/conversionActions/{ACTION}"
    ));
    let other = upload_as(
        &sandbox,
        OTHER_CUSTOMER,
        Some(&token),
        Some(OTHER_DEV_TOKEN),
        &[],
        &upload_body(vec![theirs]),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert!(
        other.json().get("partialFailureError").is_none(),
        "{}",
        other.text
    );
}
