//! One module per console page. Handlers render HTML with `layout`, read through the gateway and its
//! store, and write only through `console::writes` or the operator code shared with the API
//! (`ops::test_postback`, replay).

pub mod dashboard;
pub mod dead;
pub mod keys;
pub mod leads;
pub mod pixels;
pub mod quality;
pub mod rules;
pub mod sign_in;

/// A path segment, percent-encoded (pixel codes, rule names and transaction ids go into URLs).
pub fn seg(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::seg("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(super::seg("lead-1"), "lead-1");
    }
}
