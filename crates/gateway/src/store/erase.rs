//! Erasure of one person (`Store::erase`): every lead that matches the request — by transaction id,
//! or by the SHA-256 of an email or E.164 phone (so a person can be found without signalpost ever
//! storing the address or number) — is deleted with its lifecycle events, conversions, their
//! payloads and their attempt log. What was delivered to TikTok stays at TikTok.

use serde::Serialize;

/// Who to erase: every lead matching any of the fields given (none given matches nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseRequest {
    pub transaction_id: Option<String>,
    /// SHA-256 hex (lowercase) of the normalized email.
    pub email: Option<String>,
    /// SHA-256 hex (lowercase) of the E.164 phone; per-region readings are matched too.
    pub phone: Option<String>,
}

impl EraseRequest {
    /// Whether the request names anyone.
    pub fn is_empty(&self) -> bool {
        self.transaction_id.is_none() && self.email.is_none() && self.phone.is_none()
    }
}

/// What an erasure deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub leads: u64,
    pub events: u64,
    pub conversions: u64,
    /// Entries of the erased conversions' attempt logs.
    pub attempts: u64,
    /// Request log rows dropped by age (retention only; an erasure leaves the rows of requests its
    /// conversions rode in, which hold the destination's answer to a whole batch and no personal
    /// data).
    #[serde(skip_serializing_if = "is_zero")]
    pub requests: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
