//! The CSV backfill's row model: which column feeds which API field, how one row becomes the same
//! requests the HTTP API takes (`LeadRequest`, `EventRequest`) and is validated by the same code, and
//! the idempotency key that makes a re-run import nothing twice. The command itself (streaming,
//! batching, progress, error file) is `cli::import`.
//!
//! Columns are named like the API's fields and need no mapping: `transaction_id`, `email`, `phone`,
//! `external_id`, `ip`, `user_agent`, `landing_url`, `referrer`, `ttclid`, `ttp`, `fbclid`, `fbc`,
//! `fbp`, `gclid`, `gbraid`, `wbraid`, `meta_lead_id`, `tiktok_lead_id`, `source`, `occurred_at`, and for lifecycle events `buyer`, `offer`, `revenue`, `payout`, `currency`, `name` (custom
//! events) and `idempotency_key`; `fields.<name>` columns become custom lead fields. `--map col=field`
//! renames a column, `--map col=-` skips it. Any other column is refused, so a typo cannot silently
//! drop an identifier. An empty cell is an absent value.
//!
//! Re-run semantics: each row's lifecycle event carries the idempotency key `import:<trigger>:<id>`
//! (or the row's own `idempotency_key`, verbatim, so an import dedups against events the live API
//! already received with the same keys). A lead is created only if missing — an existing lead is
//! never overwritten — and `form_submit` is once per lead by construction. So a second run of the
//! same file queues nothing, and a corrected row from the error file imports on the next run; a row
//! changed after it was imported is not imported again (the first import wins, as in the API).

use std::collections::HashMap;

use signalpost_gateway::domain::{NewLead, NewLifecycleEvent};

use crate::wire::IdentifierPolicy;
use crate::wire::dto::to_new_event;
use crate::wire::dto::{EventRequest, EventType, LeadRequest, RawRevenue, RawTime};
use crate::wire::problem::{ApiError, FieldError};

/// The lifecycle step every row of an import fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportTrigger {
    /// The rows are form submissions: the lead alone.
    FormSubmit,
    /// The rows are later steps; the lead is created first when missing.
    Event(EventType),
}

impl ImportTrigger {
    /// `form_submit` or one of the event types.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "form_submit" => Ok(ImportTrigger::FormSubmit),
            other => EventType::parse(other)
                .map(ImportTrigger::Event)
                .map_err(|_| {
                    format!(
                        "unknown trigger {other:?}; expected form_submit, lead_sold, offer_click, offer_conversion, buyer_routed or custom"
                    )
                }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportTrigger::FormSubmit => "form_submit",
            ImportTrigger::Event(kind) => kind.as_str(),
        }
    }
}

/// A lead field a column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LeadField {
    TransactionId,
    Email,
    Phone,
    ExternalId,
    Ip,
    UserAgent,
    LandingUrl,
    Referrer,
    Ttclid,
    Ttp,
    Fbclid,
    Fbc,
    Fbp,
    Gclid,
    Gbraid,
    Wbraid,
    MetaLeadId,
    TiktokLeadId,
    Source,
    Country,
    OccurredAt,
}

/// A lifecycle-event field a column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EventField {
    Buyer,
    Offer,
    Revenue,
    Payout,
    Currency,
    Name,
    IdempotencyKey,
}

/// What one column feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Lead(LeadField),
    Event(EventField),
    Custom(String),
    Skip,
}

fn target_of(field: &str) -> Option<Target> {
    use EventField as E;
    use LeadField as L;
    let target = match field {
        "-" => Target::Skip,
        "transaction_id" => Target::Lead(L::TransactionId),
        "email" => Target::Lead(L::Email),
        "phone" => Target::Lead(L::Phone),
        "external_id" => Target::Lead(L::ExternalId),
        "ip" => Target::Lead(L::Ip),
        "user_agent" => Target::Lead(L::UserAgent),
        "landing_url" => Target::Lead(L::LandingUrl),
        "referrer" => Target::Lead(L::Referrer),
        "ttclid" => Target::Lead(L::Ttclid),
        "ttp" => Target::Lead(L::Ttp),
        "fbclid" => Target::Lead(L::Fbclid),
        "fbc" => Target::Lead(L::Fbc),
        "fbp" => Target::Lead(L::Fbp),
        "gclid" => Target::Lead(L::Gclid),
        "gbraid" => Target::Lead(L::Gbraid),
        "wbraid" => Target::Lead(L::Wbraid),
        "meta_lead_id" => Target::Lead(L::MetaLeadId),
        "tiktok_lead_id" => Target::Lead(L::TiktokLeadId),
        "source" => Target::Lead(L::Source),
        "country" => Target::Lead(L::Country),
        "occurred_at" => Target::Lead(L::OccurredAt),
        "buyer" => Target::Event(E::Buyer),
        "offer" => Target::Event(E::Offer),
        "revenue" => Target::Event(E::Revenue),
        "payout" => Target::Event(E::Payout),
        "currency" => Target::Event(E::Currency),
        "name" => Target::Event(E::Name),
        "idempotency_key" => Target::Event(E::IdempotencyKey),
        other => {
            let name = other.strip_prefix("fields.")?.trim();
            if name.is_empty() {
                return None;
            }
            Target::Custom(name.to_owned())
        }
    };
    Some(target)
}

/// The header, resolved: what each column feeds.
#[derive(Debug, Clone)]
pub struct Columns {
    targets: Vec<Target>,
    trigger: ImportTrigger,
}

impl Columns {
    /// Resolves `headers` with `maps` (`(column, field)` pairs). Refuses unknown columns, maps of
    /// columns that do not exist, two columns feeding one field, event columns on a `form_submit`
    /// import and a file without `transaction_id`.
    pub fn new(
        headers: &[String],
        maps: &[(String, String)],
        trigger: ImportTrigger,
    ) -> Result<Columns, String> {
        let mapped: HashMap<&str, &str> =
            maps.iter().map(|(c, f)| (c.as_str(), f.as_str())).collect();
        for (column, _) in maps {
            if !headers.iter().any(|h| h.trim() == column) {
                return Err(format!(
                    "--map {column}=…: the file has no column {column:?}"
                ));
            }
        }
        let mut targets = Vec::with_capacity(headers.len());
        let mut unknown = Vec::new();
        for header in headers {
            let column = header.trim();
            let field = mapped.get(column).copied().unwrap_or(column);
            match target_of(field) {
                Some(target) => targets.push(target),
                None if mapped.contains_key(column) => {
                    return Err(format!(
                        "--map {column}={field}: {field:?} is not a field (see `signalpost import --help`)"
                    ));
                }
                None => {
                    unknown.push(column.to_owned());
                    targets.push(Target::Skip);
                }
            }
        }
        if !unknown.is_empty() {
            let first = &unknown[0];
            return Err(format!(
                "unknown column{} {}; name columns like the API's fields, or map them: --map {first}=email, --map {first}=fields.{first}, or skip with --map {first}=-",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            ));
        }
        for (i, target) in targets.iter().enumerate() {
            if *target != Target::Skip && targets[..i].contains(target) {
                return Err(format!(
                    "column {:?} feeds the same field as an earlier column",
                    headers[i].trim()
                ));
            }
            if trigger == ImportTrigger::FormSubmit && matches!(target, Target::Event(_)) {
                return Err(format!(
                    "column {:?} is a lifecycle-event field; it has no meaning with --trigger form_submit",
                    headers[i].trim()
                ));
            }
        }
        if !targets.contains(&Target::Lead(LeadField::TransactionId)) {
            return Err(
                "no transaction_id column: every row needs one, it is what makes a re-run import nothing twice (map yours with --map COLUMN=transaction_id)"
                    .into(),
            );
        }
        Ok(Columns { targets, trigger })
    }

    /// The row's transaction id cell, if the row has one (for reporting rows that cannot be read).
    pub fn transaction_id(&self, cells: &csv::ByteRecord) -> Option<String> {
        let index = self
            .targets
            .iter()
            .position(|t| *t == Target::Lead(LeadField::TransactionId))?;
        let cell = cells.get(index)?;
        Some(String::from_utf8_lossy(cell).trim().to_owned())
    }

    /// How many columns the header has.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the header is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// One row as the API's requests; `cells` are in header order, empty means absent.
    pub fn requests(&self, cells: &[&str]) -> RowRequests {
        let mut lead = LeadRequest::default();
        let mut event = EventRequest {
            kind: self.trigger.as_str().to_owned(),
            ..EventRequest::default()
        };
        let mut custom = serde_json::Map::new();
        for (target, cell) in self.targets.iter().zip(cells) {
            let value = cell.trim();
            if value.is_empty() {
                continue;
            }
            let text = Some(value.to_owned());
            match target {
                Target::Skip => {}
                Target::Custom(name) => {
                    custom.insert(name.clone(), serde_json::Value::String(value.to_owned()));
                }
                Target::Lead(field) => match field {
                    LeadField::TransactionId => lead.transaction_id = text,
                    LeadField::Email => lead.email = text,
                    LeadField::Phone => lead.phone = text,
                    LeadField::ExternalId => lead.external_id = text,
                    LeadField::Ip => lead.ip = text,
                    LeadField::UserAgent => lead.user_agent = text,
                    LeadField::LandingUrl => lead.landing_url = text,
                    LeadField::Referrer => lead.referrer = text,
                    LeadField::Ttclid => lead.ttclid = text,
                    LeadField::Ttp => lead.ttp = text,
                    LeadField::Fbclid => lead.fbclid = text,
                    LeadField::Fbc => lead.fbc = text,
                    LeadField::Fbp => lead.fbp = text,
                    LeadField::Gclid => lead.gclid = text,
                    LeadField::Gbraid => lead.gbraid = text,
                    LeadField::Wbraid => lead.wbraid = text,
                    LeadField::MetaLeadId => lead.meta_lead_id = text,
                    LeadField::TiktokLeadId => lead.tiktok_lead_id = text,
                    LeadField::Source => lead.source = text,
                    LeadField::Country => lead.country = text,
                    LeadField::OccurredAt => {
                        lead.occurred_at = Some(RawTime::Text(value.to_owned()));
                        event.occurred_at = Some(RawTime::Text(value.to_owned()));
                    }
                },
                Target::Event(field) => match field {
                    EventField::Buyer => event.buyer = text,
                    EventField::Offer => event.offer = text,
                    EventField::Revenue => event.revenue = Some(RawRevenue::Text(value.to_owned())),
                    EventField::Payout => event.payout = Some(RawRevenue::Text(value.to_owned())),
                    EventField::Currency => event.currency = text,
                    EventField::Name => event.name = text,
                    EventField::IdempotencyKey => event.idempotency_key = text,
                },
            }
        }
        if !custom.is_empty() {
            lead.fields = Some(custom);
        }
        let event = match self.trigger {
            ImportTrigger::FormSubmit => None,
            ImportTrigger::Event(kind) => {
                if event.idempotency_key.is_none()
                    && let Some(tx) = &lead.transaction_id
                {
                    event.idempotency_key = Some(import_key(kind.as_str(), tx.trim()));
                }
                Some(event)
            }
        };
        RowRequests { lead, event }
    }
}

/// The idempotency key of an imported row without its own: `import:<trigger>:<transaction_id>`.
pub fn import_key(trigger: &str, transaction_id: &str) -> String {
    format!("import:{trigger}:{transaction_id}")
}

/// One row as API requests.
#[derive(Debug, Clone)]
pub struct RowRequests {
    pub lead: LeadRequest,
    /// `None` for a `form_submit` import.
    pub event: Option<EventRequest>,
}

/// A row that passed validation.
#[derive(Debug, Clone)]
pub struct ValidRow {
    pub transaction_id: String,
    pub lead: NewLead,
    pub event: Option<NewLifecycleEvent>,
}

/// Why a row is not imported.
#[derive(Debug, Clone, PartialEq)]
pub enum RowRefusal {
    /// It fails the API's validation; every bad field.
    Invalid(Vec<FieldError>),
    /// Its event happened longer ago than TikTok accepts: reported, not sent.
    TooOld(FieldError),
}

impl RowRequests {
    /// Validates exactly as the HTTP API does (all problems at once), then refuses events older
    /// than `max_age_secs`.
    pub fn validate(
        self,
        policy: &IdentifierPolicy,
        now: i64,
        max_age_secs: i64,
    ) -> Result<ValidRow, RowRefusal> {
        let mut errors = Vec::new();
        let transaction_id = self.lead.transaction_id.clone();
        if transaction_id
            .as_deref()
            .is_none_or(|t| t.trim().is_empty())
        {
            errors.push(FieldError::new(
                "transaction_id",
                "transaction_id is required for an import (it is what makes a re-run import nothing twice)",
            ));
        }
        let mut take = |e: ApiError| match e {
            ApiError::Invalid(list) => errors.extend(list),
            other => {
                let p = other.problem();
                errors.push(FieldError::new(p.field.unwrap_or_default(), p.detail));
            }
        };
        let lead = self.lead.validate(policy, now).map_err(&mut take).ok();
        let event = match self.event {
            None => None,
            Some(event) => event
                .validate(None, now)
                .map_err(&mut take)
                .ok()
                .map(to_new_event),
        };
        let (Some(lead), Some(transaction_id)) = (lead, transaction_id) else {
            errors.dedup();
            return Err(RowRefusal::Invalid(errors));
        };
        if !errors.is_empty() {
            errors.dedup();
            return Err(RowRefusal::Invalid(errors));
        }
        let occurred = event
            .as_ref()
            .and_then(|e| e.occurred_at)
            .or(lead.occurred_at)
            .unwrap_or(now);
        if now - occurred > max_age_secs {
            return Err(RowRefusal::TooOld(FieldError::new(
                "occurred_at",
                format!(
                    "too old: it happened {} ago, TikTok accepts events up to {} old; not sent",
                    human_age(now - occurred),
                    human_age(max_age_secs)
                ),
            )));
        }
        Ok(ValidRow {
            transaction_id: transaction_id.trim().to_owned(),
            lead,
            event,
        })
    }
}

fn human_age(secs: i64) -> String {
    if secs >= 86_400 {
        format!("{:.1} days", secs as f64 / 86_400.0)
    } else {
        format!("{:.1} hours", secs as f64 / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalpost_tiktok::identity::Region;

    const NOW: i64 = 1_750_000_000;
    const WEEK: i64 = 7 * 86_400;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn policy() -> IdentifierPolicy {
        IdentifierPolicy {
            default_region: Region::parse("US").unwrap(),
            strict: false,
            pixel_regions: Vec::new(),
        }
    }

    fn sold() -> ImportTrigger {
        ImportTrigger::parse("lead_sold").unwrap()
    }

    #[test]
    fn api_named_columns_need_no_map_and_unknown_ones_are_refused() {
        let ok = Columns::new(
            &headers(&["transaction_id", "email", "revenue", "fields.campaign"]),
            &[],
            sold(),
        );
        assert!(ok.is_ok());
        let err = Columns::new(
            &headers(&["transaction_id", "emial", "status"]),
            &[],
            sold(),
        )
        .unwrap_err();
        assert!(
            err.contains("emial, status") && err.contains("--map emial="),
            "{err}"
        );
        let mapped = Columns::new(
            &headers(&["Lead ID", "E-mail", "status"]),
            &[
                ("Lead ID".into(), "transaction_id".into()),
                ("E-mail".into(), "email".into()),
                ("status".into(), "-".into()),
            ],
            sold(),
        );
        assert!(mapped.is_ok(), "{mapped:?}");
    }

    #[test]
    fn header_mistakes_are_named() {
        let no_id = Columns::new(&headers(&["email"]), &[], sold()).unwrap_err();
        assert!(no_id.contains("no transaction_id column"), "{no_id}");
        let twice = Columns::new(
            &headers(&["transaction_id", "email", "mail"]),
            &[("mail".into(), "email".into())],
            sold(),
        )
        .unwrap_err();
        assert!(twice.contains("\"mail\""), "{twice}");
        let revenue_on_form = Columns::new(
            &headers(&["transaction_id", "revenue"]),
            &[],
            ImportTrigger::FormSubmit,
        )
        .unwrap_err();
        assert!(revenue_on_form.contains("form_submit"), "{revenue_on_form}");
        let missing = Columns::new(
            &headers(&["transaction_id"]),
            &[("nope".into(), "email".into())],
            sold(),
        )
        .unwrap_err();
        assert!(missing.contains("no column \"nope\""), "{missing}");
    }

    #[test]
    fn a_row_becomes_the_apis_requests_with_a_deterministic_key() {
        let columns = Columns::new(
            &headers(&[
                "transaction_id",
                "email",
                "revenue",
                "occurred_at",
                "fields.campaign",
            ]),
            &[],
            sold(),
        )
        .unwrap();
        let row = columns.requests(&["tx-9", " A@B.com ", "12.50", "", "spring"]);
        assert_eq!(row.lead.transaction_id.as_deref(), Some("tx-9"));
        assert_eq!(row.lead.occurred_at, None, "an empty cell is absent");
        let event = row.event.clone().unwrap();
        assert_eq!(
            event.idempotency_key.as_deref(),
            Some("import:lead_sold:tx-9")
        );
        assert_eq!(event.revenue, Some(RawRevenue::Text("12.50".into())));
        let valid = row.validate(&policy(), NOW, WEEK).unwrap();
        assert_eq!(valid.event.unwrap().revenue, Some(12.5));
        assert_eq!(valid.lead.fields["campaign"], "spring");
        assert_eq!(valid.lead.email.unwrap().len(), 64);
    }

    #[test]
    fn a_country_column_reads_the_phone_and_a_bad_one_is_a_row_error_at_country() {
        let columns = Columns::new(
            &headers(&["transaction_id", "phone", "country"]),
            &[],
            ImportTrigger::FormSubmit,
        )
        .unwrap();
        let valid = columns
            .requests(&["tx-fr", "06 12 34 56 78", "fr"])
            .validate(&policy(), NOW, WEEK)
            .unwrap();
        assert_eq!(valid.lead.country.as_deref(), Some("FR"));
        assert!(valid.lead.phone.is_some() && valid.lead.warnings.is_empty());
        let bad = columns
            .requests(&["tx-x", "06 12 34 56 78", "France"])
            .validate(&policy(), NOW, WEEK)
            .unwrap_err();
        let RowRefusal::Invalid(errors) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(errors[0].field, "country");
    }

    #[test]
    fn rows_are_refused_like_the_api_refuses_requests_and_too_old_is_apart() {
        let columns = Columns::new(
            &headers(&["transaction_id", "revenue", "currency", "occurred_at"]),
            &[],
            sold(),
        )
        .unwrap();
        let bad = columns
            .requests(&["", "$5", "XXX", "1750000000000"])
            .validate(&policy(), NOW, WEEK)
            .unwrap_err();
        let RowRefusal::Invalid(errors) = bad else {
            panic!("{bad:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"transaction_id"), "{fields:?}");
        assert!(
            fields.contains(&"revenue") && fields.contains(&"currency"),
            "{fields:?}"
        );
        assert!(fields.contains(&"occurred_at"), "{fields:?}");
        let old = (NOW - WEEK - 3600).to_string();
        let too_old = columns
            .requests(&["tx-1", "5", "USD", &old])
            .validate(&policy(), NOW, WEEK)
            .unwrap_err();
        assert!(matches!(too_old, RowRefusal::TooOld(ref e) if e.field == "occurred_at"));
    }
}
