//! Rules for `properties` (both API versions): value and price are numbers, quantities integers, ids
//! strings, `content_type` from TikTok's enum and `currency` from TikTok's supported list. Unknown
//! property keys are accepted, as TikTok's own GTM template sends custom ones.

use crate::currency;

use super::{
    Invalid, Object, Path, as_object, as_str, opt_integer, opt_list, opt_number, opt_one_of,
    opt_str,
};

/// Which API the properties arrive through; 1.0 puts `content_type` and `status` on each content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    V2,
    V1,
}

/// `content_type` values.
const CONTENT_TYPES: &[&str] = &["product", "product_group"];
/// `customer_type` values (web and app).
const CUSTOMER_TYPES: &[&str] = &["new", "returning"];
/// Documented free-text or id properties that must be strings.
const STRING_PROPERTIES: [&str; 5] = [
    "search_string",
    "query",
    "description",
    "order_id",
    "shop_id",
];
/// String members of a content item.
const CONTENT_STRINGS: [&str; 4] = ["content_id", "content_category", "content_name", "brand"];

/// Validates a `properties` object.
pub(crate) fn validate_properties(props: &Object, path: &Path, api: Api) -> Result<(), Invalid> {
    if let Some(contents) = opt_list(props, "contents", path)? {
        let list = path.key("contents");
        for (i, item) in contents.iter().enumerate() {
            let at = list.index(i);
            content(as_object(item, &at)?, &at, api)?;
        }
    }
    opt_one_of(props, "content_type", path, CONTENT_TYPES)?;
    if let Some(ids) = opt_list(props, "content_ids", path)? {
        let list = path.key("content_ids");
        for (i, id) in ids.iter().enumerate() {
            as_str(id, &list.index(i))?;
        }
    }
    if let Some(code) = opt_str(props, "currency", path)?
        && !currency::is_supported(code)
    {
        return Err(path.key("currency").other(format!(
            "{code:?} is not a supported currency; use an upper-case ISO 4217 code from TikTok's list (e.g. USD, EUR, GBP)"
        )));
    }
    // `value` may come without `currency`: TikTok recommends both but does not document currency as
    // required, so the sandbox does not invent that rule.
    opt_number(props, "value", path)?;
    opt_integer(props, "num_items", path)?;
    for key in STRING_PROPERTIES {
        opt_str(props, key, path)?;
    }
    opt_one_of(props, "customer_type", path, CUSTOMER_TYPES)?;
    Ok(())
}

/// One item of `properties.contents`.
fn content(item: &Object, path: &Path, api: Api) -> Result<(), Invalid> {
    opt_number(item, "price", path)?;
    opt_integer(item, "quantity", path)?;
    for key in CONTENT_STRINGS {
        opt_str(item, key, path)?;
    }
    if api == Api::V1 {
        opt_one_of(item, "content_type", path, CONTENT_TYPES)?;
        opt_str(item, "status", path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Reason;
    use serde_json::json;

    fn check(props: serde_json::Value, api: Api) -> Result<(), Invalid> {
        let root = Path::Root;
        let data = root.key("data");
        let event = data.index(3);
        validate_properties(props.as_object().unwrap(), &event.key("properties"), api)
    }

    #[test]
    fn accepts_the_reference_purchase_properties() {
        check(
            json!({"currency":"USD","value":200.0,"content_type":"product",
                   "contents":[{"price":100.0,"quantity":2,"content_id":"12345"}],
                   "content_ids":["12345"],"order_id":"o-1","gtm_version":"custom keys pass"}),
            Api::V2,
        )
        .unwrap();
        check(json!({"value": 0}), Api::V2).unwrap();
    }

    #[test]
    fn table_of_rejections_names_the_path_and_reason() {
        let cases = [
            (
                json!({"value":"200.0"}),
                "data.3.properties.value",
                Reason::NotNumber,
            ),
            (
                json!({"num_items":1.5}),
                "data.3.properties.num_items",
                Reason::NotInteger,
            ),
            (
                json!({"contents":[{"quantity":2.5}]}),
                "data.3.properties.contents.0.quantity",
                Reason::NotInteger,
            ),
            (
                json!({"contents":[{"content_id":"a"},{"content_id":12345}]}),
                "data.3.properties.contents.1.content_id",
                Reason::NotString,
            ),
            (
                json!({"contents":[{"price":"10"}]}),
                "data.3.properties.contents.0.price",
                Reason::NotNumber,
            ),
            (
                json!({"order_id":42}),
                "data.3.properties.order_id",
                Reason::NotString,
            ),
            (
                json!({"shop_id":42}),
                "data.3.properties.shop_id",
                Reason::NotString,
            ),
            (
                json!({"content_ids":["a",1]}),
                "data.3.properties.content_ids.1",
                Reason::NotString,
            ),
            (
                json!({"contents":{}}),
                "data.3.properties.contents",
                Reason::NotList,
            ),
            (
                json!({"contents":[3]}),
                "data.3.properties.contents.0",
                Reason::NotObject,
            ),
        ];
        for (props, path, reason) in cases {
            let err = check(props.clone(), Api::V2).unwrap_err();
            assert_eq!((err.path.as_str(), &err.reason), (path, &reason), "{props}");
        }
    }

    #[test]
    fn rejects_content_type_outside_the_enum() {
        let err = check(json!({"content_type":"Product"}), Api::V2).unwrap_err();
        assert_eq!(
            err.v2_message(),
            "Invalid value for data.3.properties.content_type: must be one of: product, product_group."
        );
    }

    #[test]
    fn rejects_unsupported_or_lowercase_currency() {
        for code in ["XYZ", "usd", "BTC", ""] {
            let err = check(json!({"currency": code}), Api::V2).unwrap_err();
            assert_eq!(err.path, "data.3.properties.currency", "{code}");
        }
        check(json!({"currency": "EUR"}), Api::V2).unwrap();
    }

    #[test]
    fn legacy_items_carry_their_own_content_type() {
        let err = check(json!({"contents":[{"content_type":"sku"}]}), Api::V1).unwrap_err();
        assert_eq!(err.path, "data.3.properties.contents.0.content_type");
        check(json!({"contents":[{"content_type":"sku"}]}), Api::V2).unwrap();
    }
}
