//! The console's reads and writes of pixels and rules, through the admin layer ([`crate::admin`]):
//! everything is stored in the database (tokens sealed), validated exactly as the admin API
//! validates it, and this node reloads at once (others within their poll). This file only turns the
//! admin layer's answers into what the forms show: a problem per field, or a page-level error.
//!
//! A token passes through here to the admin layer; it is never logged or rendered.

use signalpost_gateway::RuleConfig;
use signalpost_gateway::destinations::DestinationSpec;

use super::error::ConsoleError;
use crate::admin::views::{PixelView, RuleView};
use crate::admin::{AdminError, NewPixel, PixelPatch};
use crate::http::AppState;
use crate::wire::problem::ApiError;

/// A problem with one form field (`field` is the admin API's path, e.g. `event`, `when.buyer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl FieldProblem {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Why a write did not happen: the form's fields, or something the page cannot fix.
#[derive(Debug)]
pub enum WriteError {
    Fields(Vec<FieldProblem>),
    Page(ConsoleError),
}

impl From<AdminError> for WriteError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(errors) => WriteError::Fields(
                errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        problem: e.detail,
                    })
                    .collect(),
            ),
            AdminError::Conflict { detail, field } => WriteError::Fields(vec![FieldProblem {
                field: field.unwrap_or_else(|| "name".to_owned()),
                problem: detail,
            }]),
            other => WriteError::Page(ConsoleError::Api(ApiError::from(other))),
        }
    }
}

/// Every pixel with its health (the demo pixel included).
pub async fn pixels(app: &AppState) -> Result<Vec<PixelView>, ConsoleError> {
    app.admin
        .list_pixels()
        .await
        .map_err(|e| ConsoleError::Api(e.into()))
}

/// The add-pixel form's text fields, as typed (trimmed here; empty means absent).
pub struct PixelFields<'a> {
    pub code: &'a str,
    pub token: &'a str,
    pub base_url: &'a str,
    pub test_event_code: &'a str,
    pub site_url: &'a str,
    pub default_region: &'a str,
}

/// Adds a pixel.
pub async fn add_pixel(
    app: &AppState,
    fields: PixelFields<'_>,
    destination: DestinationSpec,
) -> Result<(), WriteError> {
    app.admin
        .create_pixel(NewPixel {
            code: fields.code.trim().to_owned(),
            access_token: fields.token.trim().to_owned(),
            base_url: optional(fields.base_url),
            test_event_code: optional(fields.test_event_code),
            site_url: optional(fields.site_url),
            default_region: optional(fields.default_region),
            destination,
        })
        .await?;
    tracing::info!(pixel = %fields.code.trim(), "console: pixel added");
    Ok(())
}

/// Sets (or, when empty, removes) a pixel's site URL, and its phone region when the form sent one
/// (empty removes it).
pub async fn set_site_url(
    app: &AppState,
    code: &str,
    site_url: &str,
    default_region: Option<&str>,
) -> Result<(), WriteError> {
    let patch = PixelPatch {
        site_url: Some(optional(site_url)),
        default_region: default_region.map(optional),
        ..PixelPatch::default()
    };
    app.admin.update_pixel(code, patch).await?;
    tracing::info!(pixel = %code, "console: pixel site_url changed");
    Ok(())
}

/// A form value, trimmed; `None` when empty.
fn optional(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Replaces a pixel's token; `Ok(true)` when that resumed a paused pixel.
pub async fn set_token(app: &AppState, code: &str, token: &str) -> Result<bool, WriteError> {
    if token.trim().is_empty() {
        return Err(WriteError::Fields(vec![FieldProblem::new(
            "token",
            "enter the new access token from TikTok Events Manager",
        )]));
    }
    // A Google Ads pixel's secret is four credentials; one field cannot replace them.
    if app
        .admin
        .get_pixel(code)
        .await
        .is_ok_and(|p| p.destination.name == "google_ads")
    {
        return Err(WriteError::Fields(vec![FieldProblem::new(
            "token",
            "a Google Ads pixel's credentials are four values: replace them with PUT /v1/pixels/{code}/token (developer_token, client_id, client_secret, refresh_token) or in the config file",
        )]));
    }
    let rotated = app.admin.set_token(code, token.trim()).await?;
    Ok(rotated.resumed)
}

/// Every stored rule, in order (disabled ones included).
pub async fn rules(app: &AppState) -> Result<Vec<RuleView>, ConsoleError> {
    app.admin
        .list_rules()
        .await
        .map_err(|e| ConsoleError::Api(e.into()))
}

/// One stored rule, if it exists.
pub async fn rule(app: &AppState, name: &str) -> Result<Option<RuleView>, ConsoleError> {
    match app.admin.get_rule(name).await {
        Ok(rule) => Ok(Some(rule)),
        Err(AdminError::NotFound(_)) => Ok(None),
        Err(e) => Err(ConsoleError::Api(e.into())),
    }
}

/// Creates a rule, or replaces the one named `replacing` (renaming it when the name changed).
pub async fn put_rule(
    app: &AppState,
    config: RuleConfig,
    replacing: Option<&str>,
) -> Result<(), WriteError> {
    let name = config.name.trim().to_owned();
    match replacing {
        None => {
            app.admin.create_rule(config).await?;
        }
        Some(old) if old == name => {
            app.admin.replace_rule(old, config).await?;
        }
        Some(old) => {
            // A rename: the new rule is validated and stored first, then the old one goes.
            let enabled = rule(app, old)
                .await
                .map_err(WriteError::Page)?
                .is_none_or(|r| r.enabled);
            app.admin.create_rule(config).await?;
            if !enabled {
                app.admin.set_rule_enabled(&name, false).await?;
            }
            app.admin.delete_rule(old).await?;
        }
    }
    tracing::info!(rule = %name, "console: rule saved");
    Ok(())
}

/// Enables or disables a rule.
pub async fn set_enabled(app: &AppState, name: &str, enabled: bool) -> Result<(), WriteError> {
    app.admin.set_rule_enabled(name, enabled).await?;
    tracing::info!(rule = %name, enabled, "console: rule switched");
    Ok(())
}
