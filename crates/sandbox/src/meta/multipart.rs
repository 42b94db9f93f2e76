//! Just enough of `multipart/form-data` (RFC 7578) to read text fields, which is what Meta's own
//! `curl -F 'data=[…]' -F 'access_token=…'` examples send. Files are refused (the events edge takes
//! none). Never panics: every index is checked.

/// The `boundary` parameter of a `multipart/form-data` content type (quoted or not).
pub(crate) fn boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then_some(value)
    })
}

/// The `(name, value)` text fields of a body, in order.
pub(crate) fn fields(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, &'static str> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = match find(body, delimiter) {
        Some(at) => &body[at + delimiter.len()..],
        None => return Err("no boundary found"),
    };
    let mut out = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary must end its line")?;
        let end = find(rest, delimiter).ok_or("the closing boundary is missing")?;
        let part = &rest[..end];
        rest = &rest[end + delimiter.len()..];
        let part = part
            .strip_suffix(b"\r\n")
            .ok_or("a part must end with a line break")?;
        let split = find(part, b"\r\n\r\n").ok_or("a part has no header block")?;
        let head = std::str::from_utf8(&part[..split]).map_err(|_| "part headers are not UTF-8")?;
        let value =
            std::str::from_utf8(&part[split + 4..]).map_err(|_| "a field is not UTF-8 text")?;
        let name = field_name(head)?;
        out.push((name, value.to_owned()));
    }
}

/// The `name` of a part's `Content-Disposition: form-data; name="…"` header.
fn field_name(head: &str) -> Result<String, &'static str> {
    for line in head.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut params = value.split(';');
        if !params
            .next()
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
        {
            return Err("a part is not form-data");
        }
        let mut name = None;
        for param in params {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v.trim().trim_matches('"').to_owned()),
                "filename" => return Err("file uploads are not accepted here"),
                _ => {}
            }
        }
        return name.filter(|n| !n.is_empty()).ok_or("a part has no name");
    }
    Err("a part has no Content-Disposition")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_curl_style_text_fields() {
        let body = b"--------------------------abc123\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n[{\"a\":1}]\r\n--------------------------abc123\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\ntok\r\n--------------------------abc123--\r\n";
        let ct = "multipart/form-data; boundary=------------------------abc123";
        let fields = fields(body, boundary(ct).unwrap()).unwrap();
        assert_eq!(
            fields,
            [
                ("data".to_owned(), "[{\"a\":1}]".to_owned()),
                ("access_token".to_owned(), "tok".to_owned())
            ]
        );
    }

    #[test]
    fn refuses_malformed_bodies_without_panicking() {
        for body in [
            &b""[..],
            b"--b",
            b"--b\r\n",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--",
            b"--b\r\nX: y\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\xff\r\n--b--",
        ] {
            assert!(fields(body, "b").is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary=\"q\""), Some("q"));
    }
}
