//! What the Google Ads sandbox remembers between requests: registered customers and their
//! developer tokens, the access tokens it issued (and when they expire), revoked refresh tokens,
//! clicks it was told to treat specially, and the order ids and click conversions already accepted
//! (Google's dedup). Owns no HTTP; time comes in as `Instant`, so expiry is tested without sleeping.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;

/// How long an issued access token lives (Google answers `"expires_in": 3599`).
pub(crate) const ACCESS_TOKEN_SECS: u64 = 3599;
/// Issued tokens kept before expired ones are swept (a sandbox issues a few per test).
const TOKENS_BEFORE_SWEEP: usize = 10_000;
/// The alphabet of the random part of an access token.
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// How the sandbox treats a click id, as told by `POST /sandbox/google-ads/clicks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClickState {
    /// Accepted like any click (the default for every gclid).
    Normal,
    /// `CLICK_NOT_FOUND`: no such click (Google calls it ignorable).
    NotFound,
    /// `TOO_RECENT_EVENT`: the click is under 6 hours old; retry later.
    TooRecent,
}

impl ClickState {
    /// Reads `normal`, `not_found` or `too_recent`.
    pub fn parse(name: &str) -> Option<ClickState> {
        match name {
            "normal" => Some(ClickState::Normal),
            "not_found" => Some(ClickState::NotFound),
            "too_recent" => Some(ClickState::TooRecent),
            _ => None,
        }
    }
}

/// What an `Authorization: Bearer` token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Expired,
    Unknown,
}

/// A set that forgets its oldest entries beyond a cap, so a long load test cannot exhaust memory
/// (a forgotten order id is accepted again, as after Google's own dedup window).
#[derive(Debug, Default)]
struct BoundedSet {
    set: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl BoundedSet {
    fn new(cap: usize) -> Self {
        BoundedSet {
            cap,
            ..BoundedSet::default()
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.cap == 0 || !self.set.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
    }

    fn clear(&mut self) {
        self.set.clear();
        self.order.clear();
    }
}

/// The Google Ads sandbox's memory. Holds secrets (developer and access tokens): its `Debug` shows
/// counts only.
pub(crate) struct GoogleState {
    /// customer id → its developer token.
    customers: HashMap<String, String>,
    /// access token → when it expires.
    access_tokens: HashMap<String, Instant>,
    revoked_refresh_tokens: HashSet<String>,
    clicks: HashMap<String, ClickState>,
    /// `customer\naction\norder_id` of accepted conversions.
    orders: BoundedSet,
    /// `customer\naction\ngclid\ndate_time` of accepted conversions.
    click_conversions: BoundedSet,
    /// Successful refresh-token exchanges since start.
    pub(crate) tokens_issued: u64,
}

impl std::fmt::Debug for GoogleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleState")
            .field("customers", &self.customer_ids())
            .field("access_tokens", &self.access_tokens.len())
            .field("revoked_refresh_tokens", &self.revoked_refresh_tokens.len())
            .field("clicks", &self.clicks.len())
            .field("tokens_issued", &self.tokens_issued)
            .finish_non_exhaustive()
    }
}

impl GoogleState {
    pub(crate) fn new(customers: Vec<(String, String)>, max_remembered: usize) -> Self {
        GoogleState {
            customers: customers.into_iter().collect(),
            access_tokens: HashMap::new(),
            revoked_refresh_tokens: HashSet::new(),
            clicks: HashMap::new(),
            orders: BoundedSet::new(max_remembered),
            click_conversions: BoundedSet::new(max_remembered),
            tokens_issued: 0,
        }
    }

    pub(crate) fn set_customer(&mut self, id: &str, developer_token: &str) {
        self.customers
            .insert(id.to_owned(), developer_token.to_owned());
    }

    /// Registered customer ids, sorted.
    pub(crate) fn customer_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.customers.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(crate) fn developer_token(&self, customer_id: &str) -> Option<&str> {
        self.customers.get(customer_id).map(String::as_str)
    }

    /// Issues a fresh access token valid for [`ACCESS_TOKEN_SECS`].
    pub(crate) fn issue_token(&mut self, now: Instant) -> String {
        if self.access_tokens.len() >= TOKENS_BEFORE_SWEEP {
            self.access_tokens.retain(|_, expires| now < *expires);
        }
        let mut rng = rand::rng();
        let mut token = String::from("ya29.sandbox-");
        for _ in 0..40 {
            let i = rng.random_range(0..TOKEN_ALPHABET.len());
            token.push(char::from(TOKEN_ALPHABET[i]));
        }
        self.access_tokens
            .insert(token.clone(), now + Duration::from_secs(ACCESS_TOKEN_SECS));
        self.tokens_issued += 1;
        token
    }

    pub(crate) fn check_token(&self, token: &str, now: Instant) -> TokenCheck {
        match self.access_tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(expires) if now < *expires => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
        }
    }

    /// Makes every issued access token expired now; returns how many were still valid.
    pub(crate) fn expire_tokens(&mut self, now: Instant) -> usize {
        let mut live = 0;
        for expires in self.access_tokens.values_mut() {
            if now < *expires {
                live += 1;
            }
            *expires = now;
        }
        live
    }

    pub(crate) fn set_refresh_token_revoked(&mut self, token: &str, revoked: bool) {
        if revoked {
            self.revoked_refresh_tokens.insert(token.to_owned());
        } else {
            self.revoked_refresh_tokens.remove(token);
        }
    }

    pub(crate) fn is_revoked(&self, refresh_token: &str) -> bool {
        self.revoked_refresh_tokens.contains(refresh_token)
    }

    pub(crate) fn set_click(&mut self, gclid: &str, state: ClickState) {
        if state == ClickState::Normal {
            self.clicks.remove(gclid);
        } else {
            self.clicks.insert(gclid.to_owned(), state);
        }
    }

    /// Forgets every special click; returns how many there were.
    pub(crate) fn clear_clicks(&mut self) -> usize {
        let n = self.clicks.len();
        self.clicks.clear();
        n
    }

    pub(crate) fn click(&self, gclid: &str) -> ClickState {
        self.clicks
            .get(gclid)
            .copied()
            .unwrap_or(ClickState::Normal)
    }

    /// Special clicks, sorted by gclid.
    pub(crate) fn clicks(&self) -> Vec<(String, ClickState)> {
        let mut clicks: Vec<(String, ClickState)> =
            self.clicks.iter().map(|(g, s)| (g.clone(), *s)).collect();
        clicks.sort_by(|a, b| a.0.cmp(&b.0));
        clicks
    }

    pub(crate) fn order_used(&self, key: &str) -> bool {
        self.orders.contains(key)
    }

    pub(crate) fn click_conversion_exists(&self, key: &str) -> bool {
        self.click_conversions.contains(key)
    }

    /// Remembers an accepted conversion's order id and click (either key may be absent).
    pub(crate) fn remember(&mut self, order_key: Option<String>, click_key: Option<String>) {
        if let Some(key) = order_key {
            self.orders.insert(key);
        }
        if let Some(key) = click_key {
            self.click_conversions.insert(key);
        }
    }

    /// Forgets accepted conversions (with `DELETE /sandbox/events`); customers, tokens and clicks
    /// are configuration and stay.
    pub(crate) fn forget_conversions(&mut self) {
        self.orders.clear();
        self.click_conversions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_expire_after_3599_seconds_or_when_told() {
        let t = Instant::now();
        let mut state = GoogleState::new(Vec::new(), 10);
        let token = state.issue_token(t);
        assert!(token.starts_with("ya29."));
        assert_ne!(state.issue_token(t), token);
        assert_eq!(state.check_token(&token, t), TokenCheck::Valid);
        assert_eq!(
            state.check_token(&token, t + Duration::from_secs(3598)),
            TokenCheck::Valid
        );
        assert_eq!(
            state.check_token(&token, t + Duration::from_secs(3599)),
            TokenCheck::Expired
        );
        assert_eq!(state.check_token("ya29.other", t), TokenCheck::Unknown);
        assert_eq!(state.expire_tokens(t), 2);
        assert_eq!(state.check_token(&token, t), TokenCheck::Expired);
        assert_eq!(state.expire_tokens(t), 0);
        assert_eq!(state.tokens_issued, 2);
        state.set_customer("1234567890", "dev-s3cret");
        let shown = format!("{state:?}");
        assert!(
            !shown.contains(&token) && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("1234567890"), "{shown}");
    }

    #[test]
    fn remembered_conversions_are_bounded_oldest_first() {
        let mut state = GoogleState::new(Vec::new(), 2);
        for key in ["a", "b", "c"] {
            state.remember(Some(key.to_owned()), None);
        }
        assert!(!state.order_used("a"));
        assert!(state.order_used("b") && state.order_used("c"));
        state.forget_conversions();
        assert!(!state.order_used("c"));
    }

    #[test]
    fn clicks_go_back_to_normal() {
        let mut state = GoogleState::new(Vec::new(), 2);
        state.set_click("g1", ClickState::NotFound);
        state.set_click("g2", ClickState::TooRecent);
        assert_eq!(state.click("g1"), ClickState::NotFound);
        state.set_click("g1", ClickState::Normal);
        assert_eq!(state.click("g1"), ClickState::Normal);
        assert_eq!(state.clicks(), [("g2".to_owned(), ClickState::TooRecent)]);
        assert_eq!(state.clear_clicks(), 1);
        assert_eq!(ClickState::parse("too_recent"), Some(ClickState::TooRecent));
        assert_eq!(ClickState::parse("x"), None);
    }
}
