//! Email normalization and hashing (shared/tiktok-events-api.md §1.4): trim, lowercase, SHA-256.
//! The check on the shape is deliberately loose (one `@`, something on each side, no whitespace):
//! its job is to catch a phone or a name typed in the email field, not to validate RFC 5322.
//! Errors never carry the address itself.

use sha2::{Digest, Sha256};

use super::{Field, IdentifierError, Sha256Hex, is_sha256_hex};

/// Trims and lower-cases an email after checking its shape: `" ALICE_abc@gmail.com "` →
/// `"alice_abc@gmail.com"`.
pub fn normalize_email(raw: &str) -> Result<String, IdentifierError> {
    let (trimmed, shape) = checked(raw)?;
    Ok(if shape.ascii {
        trimmed.to_ascii_lowercase()
    } else {
        trimmed.to_lowercase()
    })
}

/// SHA-256 of the normalized email, or the value itself (lower-cased) when it is already a
/// SHA-256 hex digest, so a hash coming from an upstream system is never hashed twice.
pub fn hash_email(raw: &str) -> Result<Sha256Hex, IdentifierError> {
    let trimmed = raw.trim();
    if is_sha256_hex(trimmed) {
        return Sha256Hex::parse(trimmed);
    }
    let (trimmed, shape) = checked(trimmed)?;
    if !shape.ascii {
        return Ok(Sha256Hex::digest(trimmed.to_lowercase().as_bytes()));
    }
    if !shape.upper {
        return Ok(Sha256Hex::digest(trimmed.as_bytes()));
    }
    // ASCII with capitals: lower-case through a stack buffer instead of allocating.
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64];
    for chunk in trimmed.as_bytes().chunks(buf.len()) {
        let part = &mut buf[..chunk.len()];
        part.copy_from_slice(chunk);
        part.make_ascii_lowercase();
        hasher.update(&*part);
    }
    Ok(Sha256Hex::from_digest(&hasher.finalize().into()))
}

/// What one pass over an address found.
struct Shape {
    ascii: bool,
    upper: bool,
}

/// Trims `raw` and checks it looks like an address (one `@`, something on each side, no
/// whitespace), in one pass over the bytes for ASCII input.
fn checked(raw: &str) -> Result<(&str, Shape), IdentifierError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty(Field::Email));
    }
    let bytes = trimmed.as_bytes();
    let (mut ats, mut first_at, mut space, mut ascii, mut upper) =
        (0usize, 0usize, false, true, false);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'@' => {
                if ats == 0 {
                    first_at = i;
                }
                ats += 1;
            }
            b'A'..=b'Z' => upper = true,
            // The ASCII members of Unicode White_Space.
            b'\t'..=b'\r' | b' ' => space = true,
            0x80.. => ascii = false,
            _ => {}
        }
    }
    if space || (!ascii && trimmed.chars().any(char::is_whitespace)) {
        return Err(IdentifierError::EmailWhitespace);
    }
    match ats {
        0 => return Err(IdentifierError::EmailNoAt),
        1 => {}
        _ => return Err(IdentifierError::EmailManyAt),
    }
    if first_at == 0 {
        return Err(IdentifierError::EmailNoLocalPart);
    }
    if first_at + 1 == bytes.len() {
        return Err(IdentifierError::EmailNoDomain);
    }
    Ok((trimmed, Shape { ascii, upper }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tiktok_worked_example_hashes_to_the_documented_digest() {
        assert_eq!(
            normalize_email(" ALICE_abc@gmail.com ").unwrap(),
            "alice_abc@gmail.com"
        );
        assert_eq!(
            hash_email(" ALICE_abc@gmail.com ").unwrap().as_str(),
            "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
        );
    }

    #[test]
    fn long_and_non_ascii_addresses_hash_their_lowercase_form() {
        let long = format!("{}@EXAMPLE.com", "Ab".repeat(100));
        assert_eq!(
            hash_email(&long).unwrap(),
            Sha256Hex::digest(long.to_lowercase().as_bytes())
        );
        assert_eq!(
            normalize_email("ÉLODIE@Exemple.FR").unwrap(),
            "élodie@exemple.fr"
        );
        assert_eq!(
            hash_email("ÉLODIE@Exemple.FR").unwrap(),
            Sha256Hex::digest("élodie@exemple.fr".as_bytes())
        );
    }

    #[test]
    fn an_existing_hash_passes_through_lowercased() {
        let upper = "848A771458438FC2EC420560D769FB9B9B86851EE338EC56517BAABD79D3BB4F";
        assert_eq!(
            hash_email(&format!(" {upper}\n")).unwrap().as_str(),
            upper.to_ascii_lowercase()
        );
    }

    #[test]
    fn rejects_values_that_are_not_addresses_without_echoing_them() {
        for (raw, expected) in [
            ("", IdentifierError::Empty(Field::Email)),
            ("   \t", IdentifierError::Empty(Field::Email)),
            ("no-at-sign", IdentifierError::EmailNoAt),
            ("@x.com", IdentifierError::EmailNoLocalPart),
            ("a@", IdentifierError::EmailNoDomain),
            ("a@b@c.com", IdentifierError::EmailManyAt),
            ("john smith@x.com", IdentifierError::EmailWhitespace),
            ("john\u{b}smith@x.com", IdentifierError::EmailWhitespace),
            ("jöhn\u{a0}smith@x.com", IdentifierError::EmailWhitespace),
        ] {
            let err = hash_email(raw).unwrap_err();
            assert_eq!(err, expected, "{raw:?}");
            assert_eq!(normalize_email(raw).unwrap_err(), expected, "{raw:?}");
            if raw.trim().len() > 2 {
                assert!(!err.to_string().contains(raw.trim()), "{err}");
            }
        }
    }

    proptest! {
        #[test]
        fn normalizing_twice_changes_nothing(raw in "\\PC{0,40}", user in "[A-Za-z0-9._%+-]{1,20}", host in "[A-Za-z0-9.-]{1,20}") {
            for input in [raw, format!(" {user}@{host} ")] {
                if let Ok(once) = normalize_email(&input) {
                    prop_assert_eq!(normalize_email(&once), Ok(once.clone()));
                    prop_assert_eq!(hash_email(&input), Ok(Sha256Hex::digest(once.as_bytes())));
                }
            }
        }

        #[test]
        fn hashing_a_hash_returns_the_same_hash(raw in "[a-z0-9._-]{1,20}@[a-z0-9.-]{1,20}") {
            let hash = hash_email(&raw).unwrap();
            prop_assert_eq!(hash_email(hash.as_str()), Ok(hash.clone()));
            prop_assert_eq!(hash_email(&hash.as_str().to_ascii_uppercase()), Ok(hash));
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = hash_email(&raw);
            let _ = normalize_email(&raw);
        }
    }
}
