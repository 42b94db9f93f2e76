//! The pixels, Meta pixels and Google Ads customers a sandbox can register, as the CLI and the
//! `/sandbox/pixels` endpoint give them: checked before registration so that a value that could
//! never match (a token with a space, a customer id with dashes) is refused with a reason.

/// A pixel code or token that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPixel {
    #[error("pixel code must be 1 to 128 visible ASCII characters without spaces")]
    Code,
    #[error("access token must be 1 to 512 visible ASCII characters without spaces")]
    Token,
    #[error("expected CODE=TOKEN, got {0:?}")]
    Spec(String),
    #[error("Google Ads customer id must be 10 digits without dashes (e.g. 1234567890)")]
    CustomerId,
}

/// Parses the CLI's `--pixel CODE=TOKEN` (split at the first `=`; tokens may contain `=`).
pub fn parse_pixel_spec(spec: &str) -> Result<(String, String), InvalidPixel> {
    let (code, token) = spec
        .split_once('=')
        .ok_or_else(|| InvalidPixel::Spec(spec.to_owned()))?;
    check_pixel(code, token)?;
    Ok((code.to_owned(), token.to_owned()))
}

/// Parses the CLI's `--google-ads CUSTOMER_ID=DEVELOPER_TOKEN` (split at the first `=`).
pub fn parse_google_ads_spec(spec: &str) -> Result<(String, String), InvalidPixel> {
    let (id, token) = spec
        .split_once('=')
        .ok_or_else(|| InvalidPixel::Spec(spec.to_owned()))?;
    check_google_ads_customer(id, token)?;
    Ok((id.to_owned(), token.to_owned()))
}

/// Checks a Google Ads customer id (10 digits, the API's spelling) and its developer token.
pub fn check_google_ads_customer(id: &str, developer_token: &str) -> Result<(), InvalidPixel> {
    if !signalpost_google_ads::is_customer_id(id) {
        return Err(InvalidPixel::CustomerId);
    }
    check_pixel(id, developer_token)
}

/// Checks a pixel code and token before registration: both travel in headers or JSON verbatim, and a
/// token with a space (`Bearer xxx`) could never be matched the way TikTok matches tokens.
pub fn check_pixel(code: &str, token: &str) -> Result<(), InvalidPixel> {
    let visible = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
    };
    if !visible(code, 128) {
        return Err(InvalidPixel::Code);
    }
    if !visible(token, 512) {
        return Err(InvalidPixel::Token);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pixel_specs_at_the_first_equals_sign() {
        assert_eq!(
            parse_pixel_spec("C4ABC=tok=en"),
            Ok(("C4ABC".to_owned(), "tok=en".to_owned()))
        );
        assert!(matches!(
            parse_pixel_spec("C4ABC"),
            Err(InvalidPixel::Spec(_))
        ));
        assert_eq!(parse_pixel_spec("=tok"), Err(InvalidPixel::Code));
        assert_eq!(parse_pixel_spec("C4ABC="), Err(InvalidPixel::Token));
        assert_eq!(parse_pixel_spec("C4ABC=Bearer x"), Err(InvalidPixel::Token));
    }

    #[test]
    fn parses_google_ads_specs_with_ten_digit_customer_ids() {
        assert_eq!(
            parse_google_ads_spec("1234567890=dev=tok"),
            Ok(("1234567890".to_owned(), "dev=tok".to_owned()))
        );
        for (spec, err) in [
            ("123-456-7890=t", InvalidPixel::CustomerId),
            ("123456789=t", InvalidPixel::CustomerId),
            ("1234567890=", InvalidPixel::Token),
            ("1234567890=a b", InvalidPixel::Token),
        ] {
            assert_eq!(parse_google_ads_spec(spec), Err(err), "{spec}");
        }
        assert!(matches!(
            parse_google_ads_spec("1234567890"),
            Err(InvalidPixel::Spec(_))
        ));
    }
}
