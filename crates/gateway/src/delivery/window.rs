//! How many requests a pixel's worker keeps in flight: a window that adapts to the destination
//! (additive increase, multiplicative decrease, as TCP does with its congestion window).
//!
//! - It starts at `initial_in_flight` and never leaves `1..=max_in_flight`.
//! - It only grows while it is the limit (the worker's last claim filled a whole request, so more
//!   is due, and it waited for a free slot), on each answer that shows a healthy destination
//!   (delivered, or content judged): by one per answer up to the slow-start threshold, so it
//!   doubles per round trip; past it, by one per window's worth of answers. With TikTok's 100–300 ms that is what fills the pipe: a pixel's throughput
//!   is `window × events per request / latency`.
//! - A retryable answer halves it, at most once per `cooldown` (the requests in flight when the
//!   destination struggled all answer alike; one cut is enough). A rate limit (TikTok's 40100,
//!   Meta's throttling codes, HTTP 429) also lowers the threshold to the new window (never below
//!   `initial_in_flight`), so a destination that says "too many" is probed gently from then on.
//!   A failure (5xx, timeout, connection error) leaves the threshold alone: an outage says nothing
//!   about how much the destination takes, and once it is over the window doubles back per round
//!   trip instead of creeping up one request at a time.
//!
//! The per-pixel request rate (`requests_per_second`) still bounds what any window can send.

use std::time::Duration;

use tokio::time::Instant;

/// One pixel's concurrency window. Owned by its worker; no locking.
#[derive(Debug, Clone)]
pub struct Window {
    limit: f64,
    /// Below it the window grows by one per healthy answer; above it by `1 / limit`.
    threshold: f64,
    initial: f64,
    ceiling: f64,
    cooldown: Duration,
    last_cut: Option<Instant>,
    /// The worker waited for a slot since the last change: growing the window would be used.
    limited: bool,
}

/// What one finished request says about the destination's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Delivered, or refused for its content: the destination keeps up.
    Healthy,
    /// A rate limit: the pixel sends more than the destination takes.
    Throttled,
    /// Another retryable answer: the destination fails or is too slow.
    Failed,
    /// Says nothing about capacity (a refused token, nothing sent).
    Neutral,
}

impl Window {
    /// A window of `initial` requests that moves within `1..=ceiling`.
    pub fn new(initial: usize, ceiling: usize, cooldown: Duration) -> Window {
        let ceiling = ceiling.max(1) as f64;
        let initial = (initial.max(1) as f64).min(ceiling);
        Window {
            limit: initial,
            threshold: ceiling,
            initial,
            ceiling,
            cooldown,
            last_cut: None,
            limited: false,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The worker has work but every slot is taken.
    pub fn note_limited(&mut self) {
        self.limited = true;
    }

    /// Adjusts the window to one finished request's `feedback`, received at `now`.
    pub fn observe(&mut self, feedback: Feedback, now: Instant) {
        match feedback {
            Feedback::Neutral => {}
            Feedback::Healthy => {
                if !self.limited {
                    return;
                }
                let step = if self.limit < self.threshold {
                    1.0
                } else {
                    1.0 / self.limit
                };
                let before = self.limit();
                self.limit = (self.limit + step).min(self.ceiling);
                if self.limit() != before {
                    // Grown: see whether the larger window is used before growing it again.
                    self.limited = false;
                }
            }
            Feedback::Throttled | Feedback::Failed => {
                if self
                    .last_cut
                    .is_some_and(|at| now.duration_since(at) < self.cooldown)
                {
                    return;
                }
                self.last_cut = Some(now);
                self.limit = (self.limit / 2.0).max(1.0);
                if feedback == Feedback::Throttled {
                    self.threshold = self.limit.max(self.initial);
                }
                self.limited = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_millis(500);

    fn grow(w: &mut Window, answers: usize, now: Instant) {
        for _ in 0..answers {
            w.note_limited();
            w.observe(Feedback::Healthy, now);
        }
    }

    #[test]
    fn it_starts_at_the_initial_window_and_never_passes_the_ceiling() {
        let now = Instant::now();
        let mut w = Window::new(4, 32, COOLDOWN);
        assert_eq!(w.limit(), 4);
        grow(&mut w, 1_000, now);
        assert_eq!(w.limit(), 32);
        assert_eq!(Window::new(8, 2, COOLDOWN).limit(), 2, "initial capped");
        assert_eq!(Window::new(0, 0, COOLDOWN).limit(), 1, "at least one");
    }

    #[test]
    fn it_grows_only_while_it_is_the_limit() {
        let now = Instant::now();
        let mut w = Window::new(4, 32, COOLDOWN);
        for _ in 0..100 {
            w.observe(Feedback::Healthy, now);
        }
        assert_eq!(w.limit(), 4, "never limited: no growth");
        w.note_limited();
        w.observe(Feedback::Healthy, now);
        w.observe(Feedback::Healthy, now);
        assert_eq!(w.limit(), 5, "one step per time it was the limit");
    }

    #[test]
    fn a_rate_limit_halves_it_once_per_cooldown_and_slows_later_growth() {
        let start = Instant::now();
        let mut w = Window::new(4, 64, COOLDOWN);
        grow(&mut w, 28, start);
        assert_eq!(w.limit(), 32);
        w.observe(Feedback::Throttled, start);
        assert_eq!(w.limit(), 16);
        // The other requests that were in flight fail alike: no further cut within the cooldown.
        for _ in 0..10 {
            w.observe(Feedback::Throttled, start + Duration::from_millis(100));
        }
        assert_eq!(w.limit(), 16);
        w.observe(Feedback::Throttled, start + COOLDOWN);
        assert_eq!(w.limit(), 8);
        // Past the threshold, one step needs a window's worth of healthy answers.
        grow(&mut w, 7, start + COOLDOWN);
        assert_eq!(w.limit(), 8);
        grow(&mut w, 2, start + COOLDOWN);
        assert_eq!(w.limit(), 9);
    }

    #[test]
    fn an_outage_shrinks_it_to_one_and_recovery_doubles_it_back() {
        let mut now = Instant::now();
        let mut w = Window::new(4, 32, COOLDOWN);
        grow(&mut w, 28, now);
        for _ in 0..10 {
            now += COOLDOWN;
            w.observe(Feedback::Failed, now);
        }
        assert_eq!(w.limit(), 1);
        // Failures leave the threshold at the ceiling: one step per answer all the way back.
        grow(&mut w, 31, now);
        assert_eq!(w.limit(), 32);
    }

    #[test]
    fn after_throttling_an_outage_recovers_fast_only_up_to_the_throttled_size() {
        let mut now = Instant::now();
        let mut w = Window::new(4, 32, COOLDOWN);
        grow(&mut w, 28, now);
        w.observe(Feedback::Throttled, now);
        assert_eq!(w.limit(), 16);
        for _ in 0..10 {
            now += COOLDOWN;
            w.observe(Feedback::Failed, now);
        }
        assert_eq!(w.limit(), 1);
        grow(&mut w, 15, now);
        assert_eq!(w.limit(), 16);
        grow(&mut w, 15, now);
        assert_eq!(w.limit(), 16, "additive past the throttled size");
        grow(&mut w, 2, now);
        assert_eq!(w.limit(), 17);
    }

    #[test]
    fn neutral_answers_change_nothing() {
        let now = Instant::now();
        let mut w = Window::new(4, 32, COOLDOWN);
        w.note_limited();
        w.observe(Feedback::Neutral, now);
        assert_eq!(w.limit(), 4);
    }
}
