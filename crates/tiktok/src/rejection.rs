//! Which event of a batch TikTok refused. A 40002 message names the field at fault by its path in the
//! request body, `data.N.…` (Events API 2.0: `Invalid value for data.3.properties.value: not a valid
//! number.`), so the sender can set event N aside and resend the others at once instead of bisecting.

/// The index `N` of the first `data.N` path named in `message`, if any. Only a whole path segment
/// counts: `data.3.user` and `data.3:` name event 3, while `metadata.3`, `data.x` or `data` alone
/// name no event.
pub fn rejected_event_index(message: &str) -> Option<usize> {
    let bytes = message.as_bytes();
    let mut from = 0;
    while let Some(found) = message[from..].find("data.") {
        let start = from + found;
        from = start + "data.".len();
        let preceded_by_word = start > 0 && is_word_byte(bytes[start - 1]);
        if preceded_by_word {
            continue;
        }
        let digits = bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 7 {
            continue;
        }
        let after = bytes.get(from + digits).copied();
        if after.is_some_and(is_word_byte) {
            continue;
        }
        return message[from..from + digits].parse().ok();
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_event_index_from_tiktok_style_messages() {
        let cases = [
            (
                "Invalid value for data.3.properties.value: not a valid number.",
                Some(3),
            ),
            (
                "Invalid value for data.0.page: missing data for required field.",
                Some(0),
            ),
            (
                "Invalid value for data.999.event_id: not a valid string.",
                Some(999),
            ),
            ("data.12: not a valid object", Some(12)),
            (
                "Invalid value for data: length must be between 1 and 1000.",
                None,
            ),
            (
                "Invalid value for event_source_id: not a valid string.",
                None,
            ),
            ("Invalid value for metadata.3.x: bad", None),
            ("Invalid value for data.x.y: bad", None),
            ("Invalid value for data.3a: bad", None),
            ("", None),
            (
                "Invalid value for metadata.1, then data.7.user.email: bad",
                Some(7),
            ),
            ("Invalid value for data.99999999999999999999.x: bad", None),
        ];
        for (message, expected) in cases {
            assert_eq!(rejected_event_index(message), expected, "{message}");
        }
    }

    #[test]
    fn never_panics_on_multibyte_text() {
        assert_eq!(rejected_event_index("ünïcødé data.2.ç"), Some(2));
        assert_eq!(rejected_event_index("data.é"), None);
    }
}
