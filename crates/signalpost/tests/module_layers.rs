//! The top-level modules of `crates/signalpost/src` (the files and folders directly under it) import
//! one another in one direction only. [`LAYERS`] lists them bottom first; a module may refer to the
//! modules of lower layers, never to one of its own layer or of a layer above. A reference is a
//! `crate::module` path anywhere in the code (inside `use crate::{a, b::c}` groups too, and in string
//! literals such as serde's `deserialize_with = "crate::..."`), or a `super::` path that climbs out of
//! the module to the crate root. Comments are not read.
//!
//! A new top-level module must be given a layer here; a failure names the file, line and import.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, bottom first. Modules of one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: they import no other module of the crate.
    &[
        "api_keys",
        "app_store",
        "demo",
        "destination_hosts",
        "metrics",
        "private_file",
        "retention",
    ],
    // The API's request and answer vocabulary (bodies, problems, JSON reading, schemas).
    &["wire"],
    // Checks of a pixel's fields, shared by the config file, the admin API and the CLI.
    &["pixel_fields"],
    &["config"],
    // The config's pixels and rules as the gateway and the delivery engine take them.
    &["pixel_wiring"],
    &["admin"],
    &["ops"],
    &["http"],
    &["console"],
    &["app"],
    &["cli"],
];

/// One reference of a file to a top-level module: where, the path as written, and the module.
struct Import {
    line: usize,
    text: String,
    target: String,
}

#[test]
fn top_level_modules_import_only_from_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared = declared_modules(&src.join("lib.rs"));
    let layered: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        declared, layered,
        "every module lib.rs declares must have exactly one layer in LAYERS, and no other"
    );
    let layer_of = |module: &str| LAYERS.iter().position(|l| l.contains(&module));

    let mut violations = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let module_path = module_path(relative);
        let Some(top) = module_path.first().cloned() else {
            continue; // lib.rs, main.rs
        };
        let from =
            layer_of(&top).unwrap_or_else(|| panic!("{} is in no layer", relative.display()));
        let source = std::fs::read_to_string(&file).unwrap();
        for import in imports(&source, &module_path, &declared) {
            if import.target == top {
                continue;
            }
            let to = layer_of(&import.target).unwrap();
            if to >= from {
                violations.push(format!(
                    "{}:{}: `{}`: module `{top}` (layer {}) must not import `{}` (layer {})",
                    Path::new("crates/signalpost/src").join(relative).display(),
                    import.line,
                    import.text,
                    from + 1,
                    import.target,
                    to + 1,
                ));
            }
        }
    }
    let order: Vec<String> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, layer)| format!("  {}. {}", i + 1, layer.join(", ")))
        .collect();
    assert!(
        violations.is_empty(),
        "a module may import only modules of lower layers; these go sideways or up:\n{}\n\n\
         the layers (LAYERS in tests/module_layers.rs), bottom first:\n{}",
        violations.join("\n"),
        order.join("\n")
    );
}

#[test]
fn the_reader_finds_every_form_of_reference() {
    let modules: BTreeSet<String> = ["app", "http", "wire", "config"].map(String::from).into();
    let source = r#"
use crate::app::delivery_pixel;
use crate::{
    config::Config,
    http::{self, AppState},
};
// use crate::wire::problem; (a comment is not read)
/* neither is crate::wire here */
const URL: &str = "https://example.com/{a}"; fn x<'a>(c: char) -> bool { c == '{' }
#[serde(deserialize_with = "crate::wire::json::object_only")]
mod tests {
    use super::super::app::Config;
    use super::super::super::app::Application;
    use super::inner;
}
"#;
    let found: Vec<(usize, String, String)> =
        imports(source, &["ops".into(), "context".into()], &modules)
            .into_iter()
            .map(|i| (i.line, i.target, i.text))
            .collect();
    let expected = [
        (2, "app", "crate::app::delivery_pixel"),
        (
            3,
            "config",
            "crate::{ config::Config, http::{self, AppState}, }",
        ),
        (
            3,
            "http",
            "crate::{ config::Config, http::{self, AppState}, }",
        ),
        (10, "wire", "crate::wire::json::object_only"),
        (13, "app", "super::super::super::app::Application"),
    ];
    let expected: Vec<(usize, String, String)> = expected
        .iter()
        .map(|(l, t, x)| (*l, t.to_string(), x.to_string()))
        .collect();
    assert_eq!(found, expected);
}

/// The modules `lib.rs` declares (`pub mod name;`).
fn declared_modules(lib: &Path) -> BTreeSet<String> {
    let code = strip(&std::fs::read_to_string(lib).unwrap()).code;
    code.split(';')
        .filter_map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            match words.as_slice() {
                [.., "mod", name] => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The module a file under `src` holds: `admin/live.rs` → `[admin, live]`, `http/mod.rs` →
/// `[http]`; empty for the crate roots `lib.rs` and `main.rs`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
        path.clear();
    }
    path
}

/// The references of `source` (the file of module `file_module`) to the crate's top-level
/// `modules`: `crate::` paths, and `super::` paths that reach the crate root.
fn imports(source: &str, file_module: &[String], modules: &BTreeSet<String>) -> Vec<Import> {
    let Stripped { code, blank } = strip(source);
    let chars: Vec<char> = code.chars().collect();
    let inline_mods = inline_modules(&blank.chars().collect::<Vec<_>>());
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let Some((rest, climbs)) = path_head(&chars, i) else {
            i += 1;
            continue;
        };
        // `super` climbs from the module the code sits in (the file's, plus inline `mod`s).
        if let Some(count) = climbs {
            let depth =
                file_module.len() + inline_mods.iter().filter(|m| m.contains(&start)).count();
            if count < depth {
                i = rest;
                continue;
            }
        }
        let end = path_end(&chars, rest);
        let text: String = chars[start..end].iter().collect();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let line = 1 + chars[..start].iter().filter(|c| **c == '\n').count();
        for target in first_segments(&chars[rest..end]) {
            if modules.contains(&target) {
                found.push(Import {
                    line,
                    text: text.clone(),
                    target,
                });
            }
        }
        i = end.max(i + 1);
    }
    found
}

/// At a `crate::` or `super::` path starting at `i`: where its next segment starts, and how many
/// levels its `super`s climb (`None` for `crate`).
fn path_head(chars: &[char], i: usize) -> Option<(usize, Option<usize>)> {
    if !starts_word(chars, i) {
        return None;
    }
    if word_at(chars, i, "crate") {
        return Some((skip_separator(chars, i + "crate".len())?, None));
    }
    let (mut at, mut count) = (i, 0);
    while word_at(chars, at, "super") {
        let Some(next) = skip_separator(chars, at + "super".len()) else {
            break;
        };
        count += 1;
        at = next;
    }
    (count > 0).then_some((at, Some(count)))
}

/// A source with its comments blanked (`code`), and the same with string and character literals
/// blanked too (`blank`, for counting braces). Both keep every line break, so lines match.
struct Stripped {
    code: String,
    blank: String,
}

/// `source` read as Rust: see [`Stripped`].
fn strip(source: &str) -> Stripped {
    let chars: Vec<char> = source.chars().collect();
    let mut code = String::with_capacity(source.len());
    let mut blank = String::with_capacity(source.len());
    let space = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                code.push(' ');
                blank.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                let (c, next) = (chars[i], chars.get(i + 1).copied());
                let width = match (c, next) {
                    ('/', Some('*')) => {
                        depth += 1;
                        2
                    }
                    ('*', Some('/')) => {
                        depth -= 1;
                        2
                    }
                    _ => 1,
                };
                for _ in 0..width {
                    code.push(space(chars[i]));
                    blank.push(space(chars[i]));
                    i += 1;
                }
                if depth == 0 || i >= chars.len() {
                    break;
                }
            }
        } else if let Some(end) = literal_end(&chars, i) {
            // Blank what lies between the opening and the closing quote.
            let quote = |c: &char| *c == '"' || *c == '\'';
            let literal = &chars[i..end];
            let open = literal.iter().position(quote).unwrap_or(0);
            let close = literal.iter().rposition(quote).unwrap_or(literal.len());
            for (k, c) in literal.iter().enumerate() {
                code.push(*c);
                blank.push(if open < k && k < close { space(*c) } else { *c });
            }
            i = end;
        } else {
            code.push(c);
            blank.push(c);
            i += 1;
        }
    }
    Stripped { code, blank }
}

/// Where the string, raw string or character literal starting at `i` ends (exclusive), if one
/// starts there. A `'` that starts no character literal is a lifetime or a label.
fn literal_end(chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    let after_word = i > 0 && is_ident(chars[i - 1]);
    if c == '"' {
        let mut j = i + 1;
        while j < chars.len() && chars[j] != '"' {
            j += if chars[j] == '\\' { 2 } else { 1 };
        }
        return Some((j + 1).min(chars.len()));
    }
    if c == '\'' {
        return match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('\\'), _) => {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                Some((j + 1).min(chars.len()))
            }
            (Some(_), Some('\'')) => Some(i + 3),
            _ => None,
        };
    }
    // r"…", r#"…"#, br"…": the prefix must start a token.
    let prefix = match c {
        'r' if !after_word => 1,
        'b' if !after_word && chars.get(i + 1) == Some(&'r') => 2,
        _ => return None,
    };
    let mut j = i + prefix;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// The ranges of the inline modules (`mod name { … }`) of a source whose literals are blanked.
fn inline_modules(blank: &[char]) -> Vec<std::ops::Range<usize>> {
    /// How far a `mod name {` has been read.
    #[derive(PartialEq)]
    enum Seen {
        Nothing,
        Mod,
        ModName,
    }
    let mut ranges = Vec::new();
    let mut open: Vec<(usize, bool)> = Vec::new(); // each open brace: where, and whether of a `mod`
    let mut seen = Seen::Nothing;
    let mut i = 0;
    while i < blank.len() {
        let c = blank[i];
        if starts_word(blank, i) {
            let end = (i..blank.len())
                .find(|&j| !is_ident(blank[j]))
                .unwrap_or(blank.len());
            let is_mod = blank[i..end].iter().copied().eq("mod".chars());
            seen = match seen {
                _ if is_mod => Seen::Mod,
                Seen::Mod => Seen::ModName,
                _ => Seen::Nothing,
            };
            i = end;
            continue;
        }
        match c {
            '{' => open.push((i, seen == Seen::ModName)),
            '}' => {
                if let Some((start, true)) = open.pop() {
                    ranges.push(start..i);
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            seen = Seen::Nothing;
        }
        i += 1;
    }
    ranges
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a word starts at `i` (the character before it is not part of a word).
fn starts_word(chars: &[char], i: usize) -> bool {
    is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1]))
}

/// Whether the whole word `word` is at `i`.
fn word_at(chars: &[char], i: usize, word: &str) -> bool {
    let len = word.chars().count();
    i + len <= chars.len()
        && chars[i..i + len].iter().copied().eq(word.chars())
        && chars.get(i + len).is_none_or(|c| !is_ident(*c))
}

/// The position after `::` (spaces allowed around it) at `i`, if there is one.
fn skip_separator(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    if chars.get(j) != Some(&':') || chars.get(j + 1) != Some(&':') {
        return None;
    }
    j += 2;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    Some(j)
}

/// The end of the path starting at `i`: words and `::`, and a `{ … }` group with its braces.
fn path_end(chars: &[char], i: usize) -> usize {
    let mut j = i;
    while j < chars.len() {
        let c = chars[j];
        if is_ident(c) || c == ':' {
            j += 1;
        } else if c == '{' {
            let mut depth = 0;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            return j;
        } else {
            break;
        }
    }
    j
}

/// The first segment of a path (`app` of `app::x`), or of each item of a group
/// (`config`, `http` of `{config::Config, http::{self, AppState}}`).
fn first_segments(path: &[char]) -> Vec<String> {
    let text: String = path.iter().collect();
    let Some(group) = text.strip_prefix('{') else {
        return vec![text.split("::").next().unwrap_or("").trim().to_string()];
    };
    let group = group.strip_suffix('}').unwrap_or(group);
    let mut items = Vec::new();
    let (mut depth, mut item) = (0, String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items
        .iter()
        .map(|item| {
            let first: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
            first
        })
        .filter(|first| !first.is_empty() && first != "self")
        .collect()
}
