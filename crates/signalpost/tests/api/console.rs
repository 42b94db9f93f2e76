//! The web console over plain HTTP: sign-in and sessions, cookie flags, CSRF refusal, every route
//! redirecting without a session, every page rendering for a signed-in operator, and undeliverable
//! conversions listed and replayed from the dead-letter page.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::common::{KEY, PIXEL, TestApp, spawn_app};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `name="csrf"` hidden field of a page.
fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

/// `name=value` of the Set-Cookie header setting `name`, and the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v))
}

/// A signed-in browser: its session cookie and CSRF token.
struct Operator {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp) -> Operator {
    sign_in_with(app, KEY).await
}

/// The sign-in form's double-submit cookie and token.
async fn sign_in_form(app: &TestApp) -> (String, String) {
    let form = client().get(app.url("/console")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (pre, _) = set_cookie(&form, "sp_console_pre").expect("the form sets its token cookie");
    (pre, csrf_of(&form.text().await.unwrap()))
}

async fn sign_in_with(app: &TestApp, key: &str) -> Operator {
    let c = client();
    let form = c.get(app.url("/console")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (pre, _) = set_cookie(&form, "sp_console_pre").expect("the form sets its token cookie");
    let token = csrf_of(&form.text().await.unwrap());
    let signed = c
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre)
        .form(&[("key", key), ("csrf", &token), ("next", "/console")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let (cookie, _) = set_cookie(&signed, "sp_console").expect("a session cookie");
    let page = c
        .get(app.url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_of(&page.text().await.unwrap());
    Operator { cookie, csrf }
}

impl Operator {
    async fn get(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let r = client()
            .get(app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(app.url(path))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

const GET_ROUTES: &[&str] = &[
    "/console/live",
    "/console/pixels",
    "/console/rules",
    "/console/rules/new",
    "/console/rules/sold/edit",
    "/console/leads",
    "/console/leads?q=lead-1",
    "/console/leads/lead-1",
    "/console/dead",
    "/console/dead?pixel=X",
    "/console/quality",
    "/console/keys",
];

const POST_ROUTES: &[&str] = &[
    "/console/sign-out",
    "/console/pixels",
    "/console/pixels/CTESTPIXEL0001/test",
    "/console/pixels/CTESTPIXEL0001/token",
    "/console/pixels/CTESTPIXEL0001/site",
    "/console/rules",
    "/console/rules/preview",
    "/console/rules/sold/enabled",
    "/console/dead/replay",
    "/console/keys",
    "/console/keys/key_x/revoke",
];

#[tokio::test]
async fn every_console_route_without_a_session_redirects_to_sign_in() {
    let app = spawn_app().await;
    let c = client();
    for cookie in [None, Some("sp_console=0123456789abcdef")] {
        for path in GET_ROUTES {
            let mut request = c.get(app.url(path));
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "GET {path}");
            let to = r.headers()[LOCATION].to_str().unwrap();
            assert!(to.starts_with("/console"), "GET {path} → {to}");
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("CTESTPIXEL"),
                "GET {path} leaked a page: {body}"
            );
        }
        for path in POST_ROUTES {
            let mut request = c
                .post(app.url(path))
                .form(&[("csrf", "x"), ("code", "NEWPIXEL")]);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "POST {path}");
            assert_eq!(r.headers()[LOCATION], "/console", "POST {path}");
        }
    }
    // A deep link comes back after sign-in; the signed-out /console is the form itself.
    let r = c.get(app.url("/console/leads?q=a b")).send().await.unwrap();
    assert_eq!(
        r.headers()[LOCATION],
        "/console?next=%2Fconsole%2Fleads%3Fq%3Da%2520b"
    );
    let form = c.get(app.url("/console")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(
        html.contains(r#"<label for="f-key">Admin API key"#),
        "{html}"
    );
    assert!(html.contains(r#"type="password""#));
    assert!(!app.pixels_have("NEWPIXEL"));
}

#[tokio::test]
async fn sign_in_gives_a_strict_http_only_session_and_sign_out_ends_it() {
    let app = spawn_app().await;
    let c = client();
    let form = c.get(app.url("/console")).send().await.unwrap();
    let (pre, pre_header) = set_cookie(&form, "sp_console_pre").unwrap();
    assert!(pre_header.contains("HttpOnly") && pre_header.contains("SameSite=Strict"));
    let token = csrf_of(&form.text().await.unwrap());

    // A wrong key, or the right key without the form's token: no session, and the key is not echoed.
    let wrong = c
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre)
        .form(&[("key", "wrong-key-0123456789"), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "sp_console").is_none());
    assert!(!wrong.text().await.unwrap().contains("wrong-key-0123456789"));
    // An ingest key sends leads; it does not open the console.
    let created = app
        .post(
            "/v1/keys",
            &json!({"scope": "ingest", "label": "landing pages"}),
        )
        .await;
    let ingest_key = created.body["key"].as_str().expect("a new key").to_owned();
    let ingest = c
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre)
        .form(&[("key", ingest_key.as_str()), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&ingest, "sp_console").is_none());
    let forged = c
        .post(app.url("/console/sign-in"))
        .form(&[("key", KEY), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "sp_console").is_none());

    let signed = c
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre)
        .form(&[
            ("key", KEY),
            ("csrf", &token),
            ("next", "/console/leads?q=x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()[LOCATION], "/console/leads?q=x");
    let (cookie, header) = set_cookie(&signed, "sp_console").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(header.contains(flag), "{flag} missing: {header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP: {header}");
    assert!(
        cookie.len() > "sp_console=".len() + 32,
        "a long random id: {cookie}"
    );
    assert!(!header.contains(KEY));

    // Behind a TLS-terminating proxy, the cookies are Secure.
    let form = c
        .get(app.url("/console"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (pre_tls, pre_tls_header) = set_cookie(&form, "sp_console_pre").unwrap();
    assert!(pre_tls_header.contains("Secure"), "{pre_tls_header}");
    let token = csrf_of(&form.text().await.unwrap());
    let secure = c
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre_tls)
        .header("x-forwarded-proto", "https")
        .form(&[("key", KEY), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    let (_, secure_header) = set_cookie(&secure, "sp_console").unwrap();
    assert!(secure_header.contains("Secure"), "{secure_header}");

    let operator = Operator {
        csrf: csrf_of(
            &client()
                .get(app.url("/console"))
                .header(COOKIE, &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        ),
        cookie,
    };
    assert_eq!(
        operator.get(&app, "/console/pixels").await.0,
        StatusCode::OK
    );
    let out = operator
        .post(&app, "/console/sign-out", &[("csrf", &operator.csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (cleared, cleared_header) = set_cookie(&out, "sp_console").unwrap();
    assert_eq!(cleared, "sp_console=");
    assert!(cleared_header.contains("Max-Age=0"), "{cleared_header}");
    assert_eq!(
        operator.get(&app, "/console/pixels").await.0,
        StatusCode::SEE_OTHER,
        "the old cookie no longer opens the console"
    );
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let operator = sign_in(&app).await;
    let add = |csrf: Option<&'static str>| {
        let mut form = vec![("code", "CNEWPIXEL01"), ("token", "new-token-0123456789")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        form
    };
    let missing = operator.post(&app, "/console/pixels", &add(None)).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.text().await.unwrap().contains("security token"));
    let wrong = operator
        .post(&app, "/console/pixels", &add(Some("0000")))
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(!app.pixels_have("CNEWPIXEL01"));

    let mut good = add(None);
    good.push(("csrf", operator.csrf.as_str()));
    let added = operator.post(&app, "/console/pixels", &good).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(app.pixels_have("CNEWPIXEL01"));
    // The token is write-only: the page never shows it.
    let (_, page) = operator.get(&app, "/console/pixels").await;
    assert!(page.contains("CNEWPIXEL01"));
    assert!(!page.contains("new-token-0123456789"));
    assert!(
        !page.contains("test-access-token"),
        "no configured token either"
    );
}

#[tokio::test]
async fn every_page_renders_for_a_signed_in_operator() {
    let app = spawn_app().await;
    app.lead(json!({
        "transaction_id": "console-lead-1",
        "email": "Console.Person@Example.com",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "landing_url": "https://lp.example/form?ttclid=E.C.P.console1",
    }))
    .await;
    app.wait_for_lead("console-lead-1", |l| {
        l["conversions"][0]["state"] == "delivered"
    })
    .await;
    let operator = sign_in(&app).await;
    let pages: &[(&str, &[&str])] = &[
        (
            "/console",
            &["<h1>Dashboard</h1>", "<svg", "Queue depth per pixel", PIXEL],
        ),
        ("/console/live", &["<svg", "Success rate", "100%"]),
        (
            "/console/pixels",
            &["<h1>Pixels</h1>", PIXEL, "Test Postback", "Rotate token"],
        ),
        (
            "/console/rules",
            &["<h1>Rules</h1>", "registration", "config file"],
        ),
        (
            "/console/rules/new",
            &[
                "<h1>New rule</h1>",
                "standard-events",
                "Preview for a sample lead",
            ],
        ),
        (
            "/console/leads?q=E.C.P.console1",
            &["console-lead-1", "ttclid"],
        ),
        (
            "/console/leads?q=console.person%40example.com",
            &["console-lead-1", "email"],
        ),
        (
            "/console/leads/console-lead-1",
            &["Lifecycle events", "delivered", "request_id"],
        ),
        (
            "/console/dead",
            &["<h1>Dead letters</h1>", "0 dead conversion(s)"],
        ),
        (
            "/console/quality",
            &["<h1>Match quality</h1>", PIXEL, "100%"],
        ),
        (
            "/console/keys",
            &["<h1>API keys</h1>", "Create a key", "postback"],
        ),
    ];
    for (path, expected) in pages {
        let r = client()
            .get(app.url(path))
            .header(COOKIE, &operator.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let headers = r.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        let body = r.text().await.unwrap();
        for needle in *expected {
            assert!(body.contains(needle), "{path} lacks {needle:?}:\n{body}");
        }
    }
    let (status, missing) = operator.get(&app, "/console/leads/no-such-lead").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("no-such-lead"));
    for asset in ["/console/assets/console.css", "/console/assets/console.js"] {
        let r = client().get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
}

#[tokio::test]
async fn a_rule_with_a_bad_event_name_and_currency_is_refused_at_its_fields() {
    let app = spawn_app().await;
    let operator = sign_in(&app).await;
    let form = |event: &'static str, currency: &'static str| {
        vec![
            ("name", "console-sold"),
            ("trigger", "lead_sold"),
            ("pixel", PIXEL),
            ("event", event),
            ("value", "revenue"),
            ("currency", currency),
        ]
    };
    let mut bad = form("Purchase!", "XYZ");
    bad.push(("csrf", &operator.csrf));
    let refused = operator.post(&app, "/console/rules", &bad).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains(r#"id="f-event-error""#), "{html}");
    assert!(html.contains(r#"id="f-currency-error""#), "{html}");
    assert!(html.contains("XYZ"), "{html}");

    let mut good = form("Purchase", "EUR");
    good.push(("csrf", &operator.csrf));
    let saved = operator.post(&app, "/console/rules", &good).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, rules) = operator.get(&app, "/console/rules").await;
    assert!(
        rules.contains("console-sold") && rules.contains("EUR"),
        "{rules}"
    );
    let mut preview = form("Purchase", "EUR");
    preview.push(("csrf", &operator.csrf));
    let fragment = operator
        .post(&app, "/console/rules/preview", &preview)
        .await
        .text()
        .await
        .unwrap();
    assert!(fragment.contains("fires"), "{fragment}");
    assert!(
        fragment.contains("&quot;currency&quot;: &quot;EUR&quot;"),
        "{fragment}"
    );
}

#[tokio::test]
async fn the_console_shows_undeliverable_conversions_and_sets_a_pixels_site_url() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "console-nolp", "ip": "203.0.113.7"}))
        .await;
    let operator = sign_in(&app).await;
    let (_, live) = operator.get(&app, "/console/live").await;
    assert!(live.contains("Undeliverable"), "{live}");
    assert!(live.contains("refused at ingest"), "{live}");
    let (_, lead) = operator.get(&app, "/console/leads/console-nolp").await;
    assert!(lead.contains("badge undeliverable"), "{lead}");
    assert!(lead.contains("page.url missing"), "{lead}");
    let (_, pixels) = operator.get(&app, "/console/pixels").await;
    assert!(pixels.contains(r#"data-field="site_url""#), "{pixels}");

    let site = format!("/console/pixels/{PIXEL}/site");
    let bad = operator
        .post(
            &app,
            &site,
            &[("csrf", &operator.csrf), ("site_url", "shop.example")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("absolute http"));
    let saved = operator
        .post(
            &app,
            &site,
            &[
                ("csrf", &operator.csrf),
                ("site_url", "https://shop.example/"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let pixel = app.get(&format!("/v1/pixels/{PIXEL}")).await;
    assert_eq!(pixel.body["site_url"], "https://shop.example/");
    let (_, pixels) = operator.get(&app, "/console/pixels").await;
    assert!(!pixels.contains(r#"data-field="site_url""#), "{pixels}");
}

#[tokio::test]
async fn undeliverable_conversions_are_listed_and_replayed_from_the_dead_letter_page() {
    const SITE: &str = "https://shop.example/landing";
    let app = spawn_app().await;
    for id in ["console-u1", "console-u2"] {
        app.lead(
            json!({"transaction_id": id, "email": "u@example.com", "ip": "203.0.113.9",
                        "user_agent": "UA", "ttclid": "E.C.P.u1"}),
        )
        .await;
    }
    let operator = sign_in(&app).await;

    let (_, dead) = operator.get(&app, "/console/dead").await;
    assert!(dead.contains("0 dead conversion(s)"), "{dead}");
    assert!(!dead.contains("console-u1"), "dead is the default: {dead}");
    let (status, listed) = operator
        .get(&app, "/console/dead?state=undeliverable")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed.contains("2 undeliverable conversion(s)"), "{listed}");
    assert!(
        listed.contains(r#"<option value="undeliverable" selected>"#),
        "{listed}"
    );
    assert!(
        listed.contains(r#"<input type="hidden" name="state" value="undeliverable">"#),
        "the replay form carries the state: {listed}"
    );
    assert!(listed.contains("console-u1") && listed.contains("page.url missing"));
    let (status, bad) = operator.get(&app, "/console/dead?state=paused").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        bad.contains("state: &quot;paused&quot;: expected dead or undeliverable"),
        "{bad}"
    );

    // The operator gives the pixel its site, then replays one chosen conversion from the page.
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{PIXEL}")))
                .bearer_auth(KEY)
                .json(&json!({"site_url": SITE})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    let record = app.get("/v1/leads/console-u1").await;
    let id = record.body["conversions"][0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let replayed = operator
        .post(
            &app,
            "/console/dead/replay",
            &[
                ("csrf", &operator.csrf),
                ("state", "undeliverable"),
                ("action", "selected"),
                ("id", &id),
            ],
        )
        .await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    let location = replayed.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains("state=undeliverable"), "{location}");
    assert!(location.contains("replayed=1"), "{location}");

    let events = app
        .wait_for_events(|events| {
            events
                .iter()
                .any(|e| e.event_id.as_deref() == Some("console-u1"))
        })
        .await;
    let sent = events
        .iter()
        .find(|e| e.event_id.as_deref() == Some("console-u1"))
        .unwrap()
        .payload_json();
    assert_eq!(sent["page"]["url"], SITE);
    app.wait_for_lead("console-u1", |r| {
        r["conversions"][0]["state"] == "delivered"
    })
    .await;
    let (_, rest) = operator
        .get(&app, "/console/dead?state=undeliverable")
        .await;
    assert!(rest.contains("1 undeliverable conversion(s)"), "{rest}");
    assert!(rest.contains("console-u2") && !rest.contains("console-u1"));
}

/// The id (`key_…`) of the key listed with this label.
async fn key_id(app: &TestApp, label: &str) -> String {
    let keys = app.get("/v1/keys").await;
    keys.body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .expect("the key is listed")
}

#[tokio::test]
async fn the_console_creates_a_postback_key_shows_it_once_and_revokes_it() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "ck-1"})).await;
    let operator = sign_in(&app).await;
    let created = operator
        .post(
            &app,
            "/console/keys",
            &[
                ("csrf", &operator.csrf),
                ("scope", "postback"),
                ("label", "network A"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let html = created.text().await.unwrap();
    assert!(html.contains("shown only this once"), "{html}");
    let marker = "/v1/postback?key=";
    let start = html.find(marker).expect("the postback URL is shown") + marker.len();
    let key: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(key.len() >= 32, "{key}");

    let fire = |key: &str| {
        app.client.get(app.url(&format!(
            "/v1/postback?key={key}&transaction_id=ck-1&type=lead_sold&revenue=3"
        )))
    };
    assert_eq!(app.send(fire(&key)).await.status, 202);
    let (_, listing) = operator.get(&app, "/console/keys").await;
    assert!(listing.contains("network A") && listing.contains("postback"));
    assert!(
        !listing.contains(&key),
        "a listed key never shows the key itself"
    );

    let id = key_id(&app, "network A").await;
    let revoked = operator
        .post(
            &app,
            &format!("/console/keys/{id}/revoke"),
            &[("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    app.send(fire(&key)).await.problem(401);
    let bad = operator
        .post(
            &app,
            "/console/keys",
            &[("csrf", &operator.csrf), ("scope", "root"), ("label", "")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn revoking_the_key_a_session_signed_in_with_ends_that_session_only() {
    let app = spawn_app().await;
    let second = app.create_key("admin").await;
    let bootstrap_operator = sign_in(&app).await;
    let second_operator = sign_in_with(&app, &second).await;
    assert_eq!(
        second_operator.get(&app, "/console/pixels").await.0,
        StatusCode::OK
    );

    let id = app.get("/v1/keys").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/keys/{id}")))
                .bearer_auth(KEY),
        )
        .await;
    assert_eq!(revoked.status, 204);

    let after = client()
        .get(app.url("/console/pixels"))
        .header(COOKIE, &second_operator.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(
        after.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/console?next=")
    );
    assert_eq!(
        bootstrap_operator.get(&app, "/console/pixels").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failed_sign_ins_from_one_address_are_throttled() {
    let app = spawn_app().await;
    for _ in 0..10 {
        let (pre, token) = sign_in_form(&app).await;
        let refused = client()
            .post(app.url("/console/sign-in"))
            .header(COOKIE, &pre)
            .form(&[
                ("key", "a-guess-a-guess-a-guess-a-guess-00"),
                ("csrf", &token),
                ("next", "/console"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right key is refused from this address, with a time to come back.
    let (pre, token) = sign_in_form(&app).await;
    let blocked = client()
        .post(app.url("/console/sign-in"))
        .header(COOKIE, &pre)
        .form(&[("key", KEY), ("csrf", &token), ("next", "/console")])
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 15 * 60, "{wait}");
    assert!(set_cookie(&blocked, "sp_console").is_none(), "no session");
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
    // The API is not affected.
    app.lead(json!({"transaction_id": "after-throttle"})).await;
}

#[tokio::test]
async fn the_lead_page_shows_the_country_and_the_pixel_form_sets_the_phone_region() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "console-gb", "country": "gb",
                    "landing_url": "https://lp.example.com/?fbclid=IwAR1xYz",
                    "meta_lead_id": "1234567890123456"}))
        .await;
    let operator = sign_in(&app).await;
    let (status, lead) = operator.get(&app, "/console/leads/console-gb").await;
    assert_eq!(status, StatusCode::OK);
    assert!(lead.contains(r#"data-field="country">GB<"#), "{lead}");
    assert!(lead.contains(r#"data-field="fbclid">IwAR1xYz<"#), "{lead}");
    assert!(
        lead.contains(r#"data-field="meta_lead_id">1234567890123456<"#),
        "{lead}"
    );
    assert!(
        !lead.contains(r#"data-field="gclid""#),
        "absent ids are not listed"
    );

    let site = format!("/console/pixels/{PIXEL}/site");
    let form = |region: &'static str| {
        let csrf = operator.csrf.clone();
        let site = site.clone();
        let operator = &operator;
        let app = &app;
        async move {
            operator
                .post(
                    app,
                    &site,
                    &[
                        ("csrf", csrf.as_str()),
                        ("site_url", "https://shop.example/"),
                        ("default_region", region),
                    ],
                )
                .await
        }
    };
    let bad = form("France").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(form("fr").await.status(), StatusCode::SEE_OTHER);
    let pixel = app.get(&format!("/v1/pixels/{PIXEL}")).await;
    assert_eq!(pixel.body["default_region"], "FR");
    let (_, pixels) = operator.get(&app, "/console/pixels").await;
    assert!(pixels.contains("Phone region"), "{pixels}");
    // A form without the field (an older page) leaves the region alone.
    let kept = operator
        .post(
            &app,
            &site,
            &[
                ("csrf", &operator.csrf),
                ("site_url", "https://shop.example/"),
            ],
        )
        .await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let pixel = app.get(&format!("/v1/pixels/{PIXEL}")).await;
    assert_eq!(pixel.body["default_region"], "FR");
}

#[tokio::test]
async fn the_console_adds_a_meta_dataset_and_names_each_pixels_kind() {
    let app = spawn_app().await;
    let operator = sign_in(&app).await;
    let csrf = operator.csrf.clone();
    let bad = operator
        .post(
            &app,
            "/console/pixels",
            &[
                ("code", "123456789012345"),
                ("token", "meta-token-0123456789"),
                ("kind", "meta"),
                ("action_source", "not_a_source"),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("not_a_source"));
    assert!(!app.pixels_have("123456789012345"));

    let added = operator
        .post(
            &app,
            "/console/pixels",
            &[
                ("code", "123456789012345"),
                ("token", "meta-token-0123456789"),
                ("kind", "meta"),
                ("action_source", "system_generated"),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(app.pixels_have("123456789012345"));
    let (_, page) = operator.get(&app, "/console/pixels").await;
    assert!(
        page.contains("Meta dataset (system_generated, v25.0)"),
        "{page}"
    );
    assert!(page.contains("TikTok pixel"));
    assert!(!page.contains("meta-token-0123456789"));
    let api = app.get("/v1/pixels/123456789012345").await;
    assert_eq!(api.body["destination"]["action_source"], "system_generated");
}

#[tokio::test]
async fn a_google_ads_pixel_is_named_as_one_and_its_credentials_are_not_replaced_by_one_field() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/pixels",
            &serde_json::json!({
                "code": "g-console", "destination": "google_ads", "customer_id": "1234567890",
                "conversion_action": "77", "developer_token": "dev-console",
                "client_id": "cid", "client_secret": "console-client-secret",
                "refresh_token": "1//console-refresh",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let operator = sign_in(&app).await;
    let (_, page) = operator.get(&app, "/console/pixels").await;
    assert!(
        page.contains("Google Ads conversion action 77 of customer 1234567890"),
        "{page}"
    );
    for secret in ["dev-console", "console-client-secret", "1//console-refresh"] {
        assert!(!page.contains(secret), "{secret} shown");
    }
    let rotated = operator
        .post(
            &app,
            "/console/pixels/g-console/token",
            &[("token", "a-single-token-0123"), ("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(rotated.text().await.unwrap().contains("PUT /v1/pixels/"));
}

#[tokio::test]
async fn the_console_adds_a_google_ads_pixel_and_names_a_missing_credential() {
    let app = spawn_app().await;
    let operator = sign_in(&app).await;
    let mut form = vec![
        ("kind", "google_ads"),
        ("code", "g-form"),
        ("customer_id", "123-456-7890"),
        ("conversion_action", "88"),
        ("developer_token", "dev-form-token"),
        ("client_id", "cid-form"),
        ("client_secret", "form-client-secret"),
        ("csrf", operator.csrf.as_str()),
    ];
    let missing = operator.post(&app, "/console/pixels", &form).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = missing.text().await.unwrap();
    assert!(page.contains("required for a Google Ads pixel"), "{page}");
    assert!(
        !page.contains("form-client-secret"),
        "secrets are not echoed"
    );
    assert!(!app.pixels_have("g-form"));

    form.push(("refresh_token", "1//form-refresh"));
    let added = operator.post(&app, "/console/pixels", &form).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(app.pixels_have("g-form"));
    let (_, page) = operator.get(&app, "/console/pixels").await;
    assert!(
        page.contains("Google Ads conversion action 88 of customer 1234567890"),
        "{page}"
    );
    assert!(!page.contains("1//form-refresh") && !page.contains("dev-form-token"));
}
