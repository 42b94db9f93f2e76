//! Which event of a batch Meta refused, when the message says. The validator (and Meta's own
//! parameter errors) name the field Graph-style, `data[3][user_data][fbc]`, so the sender can set
//! event 3 aside instead of bisecting.

/// The index `N` of the first `data[N]` named in `message`, if any.
pub fn rejected_event_index(message: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = message[from..].find("data[") {
        let start = from + found;
        from = start + "data[".len();
        let preceded_by_word = message[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_word {
            continue;
        }
        let rest = &message[from..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 7 || rest.as_bytes().get(digits) != Some(&b']') {
            continue;
        }
        return rest[..digits].parse().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_event_index_from_graph_style_paths() {
        for (message, expected) in [
            (
                "Invalid parameter data[3][user_data][fbc]: malformed",
                Some(3),
            ),
            (
                "(#100) The parameter data[0][event_name] is required",
                Some(0),
            ),
            ("data[999]: not an object", Some(999)),
            ("The parameter data is required", None),
            ("metadata[3][x]", None),
            ("data[x][y]", None),
            ("data[3", None),
            ("data[99999999999][x]", None),
            ("ünï data[2][é]", Some(2)),
            ("", None),
        ] {
            assert_eq!(rejected_event_index(message), expected, "{message}");
        }
    }
}
