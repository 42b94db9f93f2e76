//! The document is kept in sync with the router from both sides.

use std::collections::BTreeSet;
use std::path::Path;

use super::document;

/// `(METHOD, path)` of every `.route(...)` call in `src/http` outside test modules: the list the
/// router is built from.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Test modules build routers of their own; they are not the API.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(".route(") {
            let args_start = at + ".route(".len();
            let args = balanced(&rest[args_start..]);
            rest = &rest[args_start + args.len()..];
            let Some(path) = args.split('"').nth(1) else {
                continue;
            };
            let mut found = false;
            for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
                let mut search = args;
                while let Some(pos) = search.find(&format!("{method}(")) {
                    let before = search[..pos].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        routes.insert((method.to_uppercase(), path.to_owned()));
                        found = true;
                    }
                    search = &search[pos + method.len()..];
                }
            }
            assert!(
                found,
                "{}: cannot read the methods of .route({args})",
                file.display()
            );
        }
    }
    routes
}

/// The text up to the parenthesis closing the one just opened.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(document()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn every_route_of_the_router_is_documented_with_its_methods() {
    let routes = routes_in_sources();
    assert!(
        routes.contains(&("POST".into(), "/v1/leads".into()))
            && routes.contains(&("GET".into(), "/openapi.json".into())),
        "the source scan found the routes: {routes:?}"
    );
    let documented = documented();
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without OpenAPI docs (add #[utoipa::path] and list the handler in ApiDoc): {missing:?}"
    );
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(phantom.is_empty(), "documented but not routed: {phantom:?}");
}

#[test]
fn the_source_scan_reads_chained_and_layered_method_routers() {
    let text =
        r#".route("/a", get(x).post(y)) .route("/b", post(z).layer(DefaultBodyLimit::max(1)))"#;
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        let args = balanced(&rest[at + 7..]);
        found.push(args.to_owned());
        rest = &rest[at + 7 + args.len()..];
    }
    assert_eq!(
        found,
        [
            r#""/a", get(x).post(y)"#,
            r#""/b", post(z).layer(DefaultBodyLimit::max(1))"#
        ]
    );
}

#[test]
fn operations_have_security_and_problem_answers() {
    let doc = serde_json::to_value(document()).unwrap();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let leads = &doc["paths"]["/v1/leads"]["post"];
    assert_eq!(leads["security"][0]["bearer"], serde_json::json!([]));
    let problem = &leads["responses"]["422"]["content"]["application/problem+json"]["schema"];
    assert_eq!(problem["$ref"], "#/components/schemas/Problem");
    assert!(doc["paths"]["/healthz"]["get"].get("security").is_none());
    let readyz = &doc["paths"]["/readyz"]["get"];
    assert!(readyz.get("security").is_none());
    assert!(readyz["responses"]["503"]["content"]["application/problem+json"].is_object());
    for schema in [
        "LeadRequest",
        "EventRequest",
        "IngestAnswer",
        "TestPostbackRequest",
        "ReplayRequest",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} is not in the document"
        );
    }
}
