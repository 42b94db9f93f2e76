//! signalpost's domain and engine: leads and lifecycle events come in through [`Gateway`], rules
//! ([`rules`]) turn them into conversions, [`deliverable`] checks TikTok would take each one, the
//! [`store`] keeps them durably (group commit), and the [`delivery`] engine sends them to TikTok's
//! Events API.

pub mod click_id;
pub mod deliverable;
pub mod delivery;
pub mod destinations;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod replay;
pub mod rules;
pub mod store;
pub mod time;

pub use domain::{
    Attempt, AttemptOutcome, Conversion, ConversionState, Lead, LifecycleEvent, NewLead,
    NewLifecycleEvent, RefusedConversion, Trigger, Warning,
};
pub use error::GatewayError;
pub use gateway::{BatchItem, Gateway};
pub use rules::{Rule, RuleConfig, RuleSet};
pub use store::postgres::PostgresStore;
pub use store::sqlite::{SqliteStore, WriterConfig};
pub use store::{IngestResult, IngestUnit, LeadView, Store, StoreError};
