//! The domain words of DESIGN.md as types: a lead, a lifecycle event, a conversion (one TikTok event to
//! deliver) and a delivery attempt. Plain data: no storage, no HTTP, no TikTok client here.

pub mod attempt;
pub mod cap;
pub mod conversion;
pub mod lead;
pub mod lifecycle;

pub use attempt::{Attempt, AttemptOutcome, NewAttempt};
pub use cap::{CapCheck, CapPeriod};
pub use conversion::{Conversion, ConversionState, NewConversion, RefusedConversion, UnknownState};
pub use lead::{Lead, NewLead, Warning};
pub use lifecycle::{LifecycleEvent, NewLifecycleEvent, Trigger, UnknownTrigger};
