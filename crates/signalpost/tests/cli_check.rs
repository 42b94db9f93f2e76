//! `signalpost check` as an operator runs it: the real binary on config files in a tempdir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn check(config_text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signalpost.toml");
    std::fs::write(&path, config_text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(["check", "--config"])
        .arg(&path)
        .env("CHECK_TOKEN", "secret-token-from-env-1234")
        .env_remove("SIGNALPOST_API_KEYS")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the signalpost binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VALID: &str = r#"
[server]
timezone = "America/New_York"

[[pixels]]
code = "PIXA"
access_token = "${CHECK_TOKEN}"
site_url = "https://shop.example/"

[[pixels]]
code = "PIXB"
access_token = "another-token-0123456789"
test_event_code = "TEST123"
site_url = "https://shop.example/b"

[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "PIXA"
event = "CompleteRegistration"

[[rules]]
name = "sold_auto"
trigger = "lead_sold"
pixel = "PIXB"
event = "Purchase"
value = "revenue"
[rules.when]
buyer = "acme"
all = [ { field = "fields.vertical", in = ["auto", "home"] }, { field = "revenue", gte = 10 } ]
[rules.cap]
daily = 100
[rules.schedule]
days = ["mon-fri"]
hours = "09:00-18:00"
[rules.properties]
description = "{fields.vertical} lead"
"#;

#[test]
fn a_valid_config_exits_0_with_a_summary_of_pixels_and_rules() {
    let out = check(VALID);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for want in [
        ": OK",
        "timezone: America/New_York",
        "pixels (2): PIXA, PIXB (test_event_code TEST123)",
        "rules (2):",
        "  registration: form_submit → CompleteRegistration on PIXA",
        "  sold_auto: lead_sold → Purchase on PIXB, 3 conditions, cap daily 100, schedule mon,tue,wed,thu,fri 09:00-18:00 (America/New_York), sets properties/page",
    ] {
        assert!(stdout.contains(want), "{want:?} not in:\n{stdout}");
    }
    assert!(!stdout.contains("secret-token"), "tokens are never printed");
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn rules_sharing_a_dedup_key_are_a_warning_not_an_error() {
    let config = format!(
        "{VALID}\n[[rules]]\nname = \"sold_again\"\ntrigger = \"offer_conversion\"\npixel = \"PIXB\"\nevent = \"Purchase\"\n"
    );
    let out = check(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(
            "warning: rules \"sold_auto\" and \"sold_again\" both send Purchase to PIXB with event_id {transaction_id}"
        ),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_pixel_without_site_url_is_a_warning_and_a_bad_one_an_error() {
    let config = VALID.replacen("site_url = \"https://shop.example/\"\n", "", 1);
    let out = check(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("warning: pixels[0] \"PIXA\": site_url: no site_url: "),
        "{stdout}"
    );
    assert!(!stdout.contains("pixels[1]"), "PIXB has one: {stdout}");

    let bad = VALID.replacen("https://shop.example/b", "shop.example/b", 1);
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr)
            .contains("pixels[1].site_url: must be an absolute http:// or https:// URL"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_event_id_without_a_placeholder_is_a_warning() {
    let config = format!(
        "{VALID}\n[[rules]]\nname = \"fixed\"\ntrigger = \"lead_sold\"\npixel = \"PIXA\"\nevent = \"Purchase\"\nevent_id = \"sale\"\n"
    );
    let out = check(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("warning: rule \"fixed\": event_id \"sale\" has no placeholder"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_invalid_config_exits_2_and_lists_every_problem_with_its_rule() {
    let bad = r#"
[server]
timezone = "Mars/Olympus_Mons"

[[pixels]]
code = "PIXA"
access_token = "tok-0123456789abcdef"

[[rules]]
name = "ok"
trigger = "form_submit"
pixel = "PIXA"
event = "CompleteRegistration"

[[rules]]
name = "unknown_pixel"
trigger = "form_submit"
pixel = "NOPE"
event = "Lead"

[[rules]]
name = "sold_auto"
trigger = "lead_sold"
pixel = "PIXA"
event = "Purchase"
[rules.when]
all = [ { field = "fields.vertical", in = ["auto"] }, { field = "revenue", gt = "abc" } ]
[rules.cap]
dayly = 5

[[rules]]
name = "typo"
triger = "lead_sold"

[[rules]]
name = "ok"
trigger = "lead_sold"
pixel = "PIXA"
event = "Purchase"
[rules.properties]
quantity = 1.5
"#;
    let out = check(bad);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let want = [
        "server.timezone: \"Mars/Olympus_Mons\" is not an IANA time zone name",
        "rules[1] \"unknown_pixel\": pixel: no [[pixels]] entry has code \"NOPE\"",
        "rules[2] \"sold_auto\": when.all[1].gt: expected a number",
        "rules[2] \"sold_auto\": cap.dayly: unknown cap period",
        "rules[3] \"typo\": unknown field `triger`",
        "rules[4] \"ok\": name: rules[0] has the same name",
        "rules[4] \"ok\": properties.quantity: expected an integer",
    ];
    for w in want {
        assert!(stderr.contains(w), "{w:?} not in:\n{stderr}");
    }
    assert!(
        stderr.contains(&format!("{} problems", want.len())),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn a_file_that_is_not_toml_is_one_problem_and_exit_2() {
    let out = check("[[rules]\nname = ");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("1 problem"),
        "{}",
        text(&out.stderr)
    );
}
