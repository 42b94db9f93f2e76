//! The admin API through real HTTP against the real sandbox: scoped keys, pixels (added, rotated,
//! paused and resumed, deleted), rules (validated, disabled, deleted), and the config file as a
//! bootstrap that never undoes an API edit. Plus the admin CLI against a running server.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{KEY, PIXEL, TOKEN, TestApp, spawn_app};

const NEW_PIXEL: &str = "CNEWPIXEL0002";
const NEW_TOKEN: &str = "new-pixel-token-abcdefghijkl";

impl TestApp {
    async fn put(&self, path: &str, body: &Value) -> crate::common::Answer {
        self.send(self.client.put(self.url(path)).bearer_auth(KEY).json(body))
            .await
    }

    async fn patch(&self, path: &str, body: &Value) -> crate::common::Answer {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(KEY)
                .json(body),
        )
        .await
    }

    async fn delete(&self, path: &str) -> crate::common::Answer {
        self.send(self.client.delete(self.url(path)).bearer_auth(KEY))
            .await
    }

    async fn pixel_view(&self, code: &str) -> Value {
        let answer = self.get(&format!("/v1/pixels/{code}")).await;
        assert_eq!(answer.status, 200, "{:#}", answer.body);
        answer.body
    }
}

fn is_problem(answer: &crate::common::Answer) -> bool {
    answer.headers["content-type"] == "application/problem+json"
}

#[tokio::test]
async fn ingest_keys_send_leads_but_are_forbidden_admin_routes_and_revoked_keys_stop_working() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/keys",
            &json!({"scope": "ingest", "label": "lead platform"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sp_") && key.len() > 40, "{key}");
    assert_eq!(created.body["scope"], "ingest");

    let lead = app
        .send(
            app.client
                .post(app.url("/v1/leads"))
                .bearer_auth(&key)
                .json(&json!({"transaction_id": "scoped-1"})),
        )
        .await;
    assert_eq!(lead.status, 202, "{:#}", lead.body);
    for (method, path) in [
        ("GET", "/v1/pixels"),
        ("GET", "/v1/rules"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/test-postback"),
        ("POST", "/v1/replay"),
        ("POST", "/v1/preview"),
    ] {
        let request = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app.client.post(app.url(path)).json(&json!({})),
        };
        let answer = app.send(request.bearer_auth(&key)).await;
        assert_eq!(answer.status, 403, "{method} {path}: {:#}", answer.body);
        assert!(is_problem(&answer));
        assert_eq!(answer.body["type"], "urn:signalpost:problem:forbidden");
    }

    // The listing never carries a key.
    let listed = app.get("/v1/keys").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body[0]["id"], id.as_str());
    assert_eq!(listed.body[0]["label"], "lead platform");
    assert!(listed.body[0].get("key").is_none(), "{:#}", listed.body);
    assert!(!listed.body.to_string().contains(&key));

    assert_eq!(app.delete(&format!("/v1/keys/{id}")).await.status, 204);
    assert_eq!(app.delete(&format!("/v1/keys/{id}")).await.status, 409);
    assert_eq!(app.delete("/v1/keys/key_nope").await.status, 404);
    let refused = app
        .send(
            app.client
                .get(app.url("/v1/leads/scoped-1"))
                .bearer_auth(&key),
        )
        .await;
    assert_eq!(refused.status, 401, "{:#}", refused.body);

    let bad = app.post("/v1/keys", &json!({"scope": "root"})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["field"], "scope");
}

#[tokio::test]
async fn a_pixel_added_through_the_api_delivers_and_never_shows_its_token() {
    let app = spawn_app().await;
    app.sandbox
        .sandbox()
        .set_token(NEW_PIXEL, NEW_TOKEN)
        .unwrap();
    let sandbox = app.sandbox.base_url();

    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": NEW_PIXEL, "access_token": NEW_TOKEN, "base_url": sandbox}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["token"], "tt_…ijkl");
    assert_eq!(created.body["health"], "ok");
    assert_eq!(created.body["token_age_days"], 0);
    assert!(!created.body.to_string().contains(NEW_TOKEN));

    let again = app
        .post(
            "/v1/pixels",
            &json!({"code": NEW_PIXEL, "access_token": NEW_TOKEN}),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["field"], "code");
    let invalid = app
        .post(
            "/v1/pixels",
            &json!({"code": "bad code", "access_token": "", "base_url": "ftp://x"}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{:#}", invalid.body);
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["code", "access_token", "base_url"]);

    // A rule for it; a lead then reaches the sandbox under the new pixel.
    let rule = app
        .post(
            "/v1/rules",
            &json!({"name": "new_reg", "trigger": "form_submit", "pixel": NEW_PIXEL,
                    "event": "SubmitForm"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{:#}", rule.body);
    app.lead(json!({"transaction_id": "np-1", "ttclid": "E.C.P.x", "landing_url": "https://lp.example.com/"}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.sandbox.events(Some(NEW_PIXEL)).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.sandbox.events(Some(NEW_PIXEL))[0].event, "SubmitForm");

    // Patch the test code; a pixel a rule uses cannot be deleted.
    let patched = app
        .patch(
            &format!("/v1/pixels/{NEW_PIXEL}"),
            &json!({"test_event_code": "TEST42"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:#}", patched.body);
    assert_eq!(patched.body["test_event_code"], "TEST42");
    let refused = app.delete(&format!("/v1/pixels/{NEW_PIXEL}")).await;
    assert_eq!(refused.status, 409, "{:#}", refused.body);
    assert!(refused.body["detail"].as_str().unwrap().contains("new_reg"));
    assert_eq!(app.delete("/v1/rules/new_reg").await.status, 204);
    assert_eq!(
        app.delete(&format!("/v1/pixels/{NEW_PIXEL}")).await.status,
        204
    );
    assert_eq!(
        app.get(&format!("/v1/pixels/{NEW_PIXEL}")).await.status,
        404
    );
}

#[tokio::test]
async fn a_rejected_token_pauses_the_pixel_visibly_and_a_rotation_through_the_api_resumes_it() {
    let app = spawn_app().await;
    // TikTok's side rotates: our stored token is now refused with 40105.
    app.sandbox
        .sandbox()
        .set_token(PIXEL, "rotated-token-zyxwvutsrq")
        .unwrap();
    app.lead(json!({"transaction_id": "pause-1", "landing_url": "https://lp.example.com/"}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = app.pixel_view(PIXEL).await;
        if view["health"] == "paused" {
            let detail = view["health_detail"].as_str().unwrap();
            assert!(detail.contains("40105"), "{detail}");
            assert!(detail.contains("PUT /v1/pixels/"), "{detail}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never paused: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The health metric follows within the settings poll.
    let want = format!("signalpost_pixel_paused{{pixel=\"{PIXEL}\"}} 1");
    loop {
        let metrics = app
            .send(app.client.get(app.url("/metrics")).bearer_auth(KEY))
            .await;
        if metrics.body.as_str().unwrap_or_default().contains(&want) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{want} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rotated = app
        .put(
            &format!("/v1/pixels/{PIXEL}/token"),
            &json!({"access_token": "rotated-token-zyxwvutsrq"}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:#}", rotated.body);
    assert_eq!(rotated.body["resumed"], true);
    assert_eq!(rotated.body["pixel"]["token"], "tt_…tsrq");
    assert_eq!(rotated.body["pixel"]["health"], "ok");
    app.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e.event_id.as_deref() == Some("pause-1"))
    })
    .await;

    let missing = app
        .put("/v1/pixels/CNOPE/token", &json!({"access_token": "abc"}))
        .await;
    assert_eq!(missing.status, 404);
    let empty = app
        .put(
            &format!("/v1/pixels/{PIXEL}/token"),
            &json!({"access_token": " "}),
        )
        .await;
    assert_eq!(empty.status, 422);
    assert_eq!(empty.body["field"], "access_token");
}

#[tokio::test]
async fn rules_are_validated_at_their_paths_and_can_be_disabled_replaced_and_deleted() {
    let app = spawn_app().await;
    let invalid = app
        .post(
            "/v1/rules",
            &json!({"name": "bad", "trigger": "lead_sold", "pixel": "CMISSING",
                    "event": "Purchase", "currency": "XXX", "when": {"all": [{"field": "revenue", "gt": "x"}]}}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{:#}", invalid.body);
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"currency"), "{fields:?}");
    assert!(fields.contains(&"pixel"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("when.all[0]")),
        "{fields:?}"
    );
    let unknown = app
        .post("/v1/rules", &json!({"name": "x", "colour": "red"}))
        .await;
    assert_eq!(unknown.status, 422, "{:#}", unknown.body);

    // The config's rules are listed as from the file.
    let listed = app.get("/v1/rules").await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["registration", "sale"]);
    assert_eq!(listed.body[0]["from_config_file"], true);

    // Disable the registration rule: a lead then queues nothing.
    let disabled = app
        .patch("/v1/rules/registration", &json!({"enabled": false}))
        .await;
    assert_eq!(disabled.status, 200, "{:#}", disabled.body);
    assert_eq!(disabled.body["enabled"], false);
    let answer = app.lead(json!({"transaction_id": "rule-off"})).await;
    assert_eq!(answer["conversions"], json!([]), "{answer:#}");

    // Replace the sale rule: a new event name and a minimum revenue.
    let replaced = app
        .put(
            "/v1/rules/sale",
            &json!({"trigger": "lead_sold", "pixel": PIXEL, "event": "PlaceAnOrder",
                    "value": "revenue", "currency": "USD", "when": {"min_revenue": 10}}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:#}", replaced.body);
    let sold = app
        .post(
            "/v1/leads/rule-off/events",
            &json!({"type": "lead_sold", "revenue": 25, "idempotency_key": "s1"}),
        )
        .await;
    assert_eq!(sold.status, 202, "{:#}", sold.body);
    assert_eq!(
        sold.body["conversions"][0]["event"], "PlaceAnOrder",
        "{:#}",
        sold.body
    );
    let renamed = app
        .put(
            "/v1/rules/sale",
            &json!({"name": "other", "trigger": "lead_sold", "pixel": PIXEL, "event": "Purchase"}),
        )
        .await;
    assert_eq!(renamed.status, 422);
    assert_eq!(renamed.body["field"], "name");

    assert_eq!(app.delete("/v1/rules/sale").await.status, 204);
    assert_eq!(app.get("/v1/rules/sale").await.status, 404);
}

#[tokio::test]
async fn the_config_file_is_a_bootstrap_that_never_undoes_an_api_edit() {
    let app = spawn_app().await;
    app.sandbox
        .sandbox()
        .set_token(PIXEL, "api-rotated-token-0000abcd")
        .unwrap();
    let rotated = app
        .put(
            &format!("/v1/pixels/{PIXEL}/token"),
            &json!({"access_token": "api-rotated-token-0000abcd"}),
        )
        .await;
    assert_eq!(rotated.status, 200);
    app.patch("/v1/rules/registration", &json!({"enabled": false}))
        .await;
    // Reloading the unchanged file (SIGHUP, restart) keeps both edits.
    app.reload(&app.config_text).await.unwrap();
    assert_eq!(app.pixel_view(PIXEL).await["token"], "tt_…abcd");
    assert_eq!(
        app.get("/v1/rules/registration").await.body["enabled"],
        false
    );
    // Test postback proves the API's token is the one in use.
    let fired = app
        .post("/v1/test-postback", &json!({"pixel": PIXEL}))
        .await;
    assert_eq!(fired.body["code"], 0, "{:#}", fired.body);
    // A changed file entry is applied.
    let changed = app
        .config_text
        .replace(TOKEN, "file-token-changed-wxyz1234");
    app.reload(&changed).await.unwrap();
    assert_eq!(app.pixel_view(PIXEL).await["token"], "tt_…1234");
}

/// Runs the binary with stdin.
fn signalpost(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(args)
        .env_remove("SIGNALPOST_CONFIG")
        .env_remove("SIGNALPOST_MASTER_KEY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the signalpost binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn run(args: Vec<String>, stdin: &str) -> std::process::Output {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        signalpost(&args, &stdin)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_admin_cli_applies_creates_keys_and_rotates_tokens_that_the_running_server_picks_up() {
    let app = spawn_app().await;
    let config = app.config_path.to_str().unwrap().to_owned();
    let arg = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let applied = run(arg(&["apply", "--config", &config]), "").await;
    assert!(applied.status.success(), "{applied:?}");
    let out = String::from_utf8_lossy(&applied.stdout);
    assert!(out.contains(&format!("pixel {PIXEL}: unchanged")), "{out}");
    assert!(out.contains("nothing to change"), "{out}");

    let created = run(
        arg(&[
            "keys", "create", "--scope", "ingest", "--label", "cli", "--config", &config,
        ]),
        "",
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(key.starts_with("sp_"), "{key}");
    let bad_scope = run(
        arg(&["keys", "create", "--scope", "root", "--config", &config]),
        "",
    )
    .await;
    assert_eq!(bad_scope.status.code(), Some(2));

    // The server picks the new key up within its poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = app
            .send(
                app.client
                    .post(app.url("/v1/leads"))
                    .bearer_auth(&key)
                    .json(&json!({"transaction_id": "cli-key"})),
            )
            .await;
        if answer.status == StatusCode::ACCEPTED {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#}", answer.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Rotate the token from the CLI (read from stdin, never an argument).
    app.sandbox
        .sandbox()
        .set_token(PIXEL, "cli-rotated-token-qrst9876")
        .unwrap();
    let set = run(
        arg(&["pixels", "set-token", PIXEL, "--config", &config]),
        "cli-rotated-token-qrst9876\n",
    )
    .await;
    assert!(set.status.success(), "{set:?}");
    let printed = String::from_utf8_lossy(&set.stdout);
    assert!(
        printed.contains("tt_…9876") && !printed.contains("qrst9876"),
        "{printed}"
    );
    assert_eq!(app.pixel_view(PIXEL).await["token"], "tt_…9876");
    // The running server sends with it once its settings poll has seen the change.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let fired = app
            .post("/v1/test-postback", &json!({"pixel": PIXEL}))
            .await;
        if fired.body["code"] == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#}", fired.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let listed = run(arg(&["pixels", "list", "--config", &config]), "").await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("tt_…9876") && !text.contains("qrst9876"),
        "{text}"
    );
    let empty = run(
        arg(&["pixels", "set-token", PIXEL, "--config", &config]),
        "",
    )
    .await;
    assert_eq!(empty.status.code(), Some(2));
}
