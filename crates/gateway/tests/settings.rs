//! Pixels, rules and keys on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): upserts keep what they should, every operator edit moves
//! the version, pause observations are tied to the token they were made with, and everything
//! survives a reopen.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::TestDb;
use signalpost_gateway::store::settings::{KeyScope, StoredKey, StoredPixel, StoredRule};

both_stores!(
    pixels_upsert_pause_and_delete_with_the_version_moving_on_edits_only,
    rules_keep_their_position_when_replaced_and_keys_revoke_once,
    named_settings_are_set_once_and_everything_survives_a_reopen,
);

fn pixel(code: &str, set_at: i64) -> StoredPixel {
    StoredPixel {
        code: code.into(),
        sealed_token: vec![1, 2, 3, 0, 255],
        token_last4: "abcd".into(),
        token_set_at_ms: set_at,
        base_url: Some("http://127.0.0.1:9".into()),
        test_event_code: None,
        site_url: Some("https://shop.example/landing".into()),
        default_region: Some("FR".into()),
        destination: None,
        paused_reason: None,
        paused_at_ms: None,
        config_digest: Some("d1".into()),
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

fn rule(name: &str, config: &str) -> StoredRule {
    StoredRule {
        name: name.into(),
        config: config.into(),
        enabled: true,
        config_digest: None,
        created_at_ms: 5,
        updated_at_ms: 5,
    }
}

async fn pixels_upsert_pause_and_delete_with_the_version_moving_on_edits_only(db: TestDb) {
    let store = db.open().await;
    let s = store.settings();
    let v0 = s.settings_version().await.unwrap();
    s.put_pixel(pixel("B", 100)).await.unwrap();
    s.put_pixel(pixel("A", 100)).await.unwrap();
    let v1 = s.settings_version().await.unwrap();
    assert!(v1 > v0);
    let listed = s.list_pixels().await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        ["A", "B"]
    );
    assert_eq!(listed[0], pixel("A", 100), "bytes and fields round-trip");

    // A pause observed with the current token is recorded, without moving the version.
    s.set_pixel_paused("A", 100, Some("40105 revoked"), 777)
        .await
        .unwrap();
    assert_eq!(s.settings_version().await.unwrap(), v1);
    let a = &s.list_pixels().await.unwrap()[0];
    assert_eq!(a.paused_reason.as_deref(), Some("40105 revoked"));
    assert_eq!(a.paused_at_ms, Some(777));
    // An observation about an older token does not touch a pixel whose token changed.
    let mut rotated = pixel("B", 200);
    rotated.sealed_token = vec![9; 40];
    s.put_pixel(rotated.clone()).await.unwrap();
    s.set_pixel_paused("B", 100, Some("stale"), 778)
        .await
        .unwrap();
    let b = &s.list_pixels().await.unwrap()[1];
    assert_eq!(b, &rotated);
    // An upsert replaces the site_url too (clearing it included).
    let mut no_site = rotated.clone();
    no_site.site_url = None;
    no_site.default_region = None;
    s.put_pixel(no_site.clone()).await.unwrap();
    assert_eq!(s.list_pixels().await.unwrap()[1], no_site);
    s.put_pixel(rotated.clone()).await.unwrap();
    // Clearing.
    s.set_pixel_paused("A", 100, None, 779).await.unwrap();
    let a = &s.list_pixels().await.unwrap()[0];
    assert_eq!((a.paused_reason.as_deref(), a.paused_at_ms), (None, None));

    assert!(s.delete_pixel("A").await.unwrap());
    assert!(!s.delete_pixel("A").await.unwrap());
    assert_eq!(s.list_pixels().await.unwrap().len(), 1);
    assert!(s.settings_version().await.unwrap() > v1);
    store.close().await;
}

async fn rules_keep_their_position_when_replaced_and_keys_revoke_once(db: TestDb) {
    let store = db.open().await;
    let s = store.settings();
    for name in ["first", "second", "third"] {
        s.put_rule(rule(name, "{}")).await.unwrap();
    }
    let mut changed = rule("first", r#"{"event":"Purchase"}"#);
    changed.enabled = false;
    changed.updated_at_ms = 9;
    s.put_rule(changed).await.unwrap();
    let rules = s.list_rules().await.unwrap();
    assert_eq!(
        rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["first", "second", "third"]
    );
    assert_eq!(rules[0].config, r#"{"event":"Purchase"}"#);
    assert!(!rules[0].enabled);
    assert_eq!((rules[0].created_at_ms, rules[0].updated_at_ms), (5, 9));
    assert!(s.delete_rule("second").await.unwrap());
    assert!(!s.delete_rule("second").await.unwrap());

    let key = StoredKey {
        id: "key_1".into(),
        digest: "ab".repeat(32),
        prefix: "sp_abcdef".into(),
        scope: KeyScope::Ingest,
        label: "lead platform".into(),
        created_at_ms: 10,
        revoked_at_ms: None,
    };
    s.insert_key(key.clone()).await.unwrap();
    assert!(s.insert_key(key.clone()).await.is_err(), "ids are unique");
    assert_eq!(s.list_keys().await.unwrap(), std::slice::from_ref(&key));
    assert!(s.revoke_key("key_1", 20).await.unwrap());
    assert!(!s.revoke_key("key_1", 21).await.unwrap(), "revoked once");
    assert!(!s.revoke_key("key_missing", 21).await.unwrap());
    assert_eq!(s.list_keys().await.unwrap()[0].revoked_at_ms, Some(20));
    store.close().await;
}

async fn named_settings_are_set_once_and_everything_survives_a_reopen(db: TestDb) {
    let store = db.open().await;
    let s = store.settings();
    assert_eq!(s.get_setting("check").await.unwrap(), None);
    assert_eq!(s.init_setting("check", vec![1, 2]).await.unwrap(), [1, 2]);
    assert_eq!(
        s.init_setting("check", vec![3]).await.unwrap(),
        [1, 2],
        "the first value stays"
    );
    s.put_pixel(pixel("P", 1)).await.unwrap();
    s.put_rule(rule("r", "{}")).await.unwrap();
    let version = s.settings_version().await.unwrap();
    store.close().await;

    let store = db.open().await;
    let s = store.settings();
    assert_eq!(s.get_setting("check").await.unwrap(), Some(vec![1, 2]));
    assert_eq!(s.list_pixels().await.unwrap(), [pixel("P", 1)]);
    assert_eq!(s.list_rules().await.unwrap().len(), 1);
    assert_eq!(s.settings_version().await.unwrap(), version);
    store.close().await;
}
