//! A failure that repeats every few milliseconds while its cause lasts (a full disk fails every
//! commit and every checkpoint): logged when it starts, again every [`RELOG`] while it lasts, and once
//! when it is over, instead of once per failure. Successes in between (a small commit that still
//! fits) do not end it: it is over at the first success after [`QUIET`] without a failure. Time is
//! passed in, so the transitions are tested without sleeping.

use std::time::{Duration, Instant};

/// How often an episode that lasts is logged again.
pub(crate) const RELOG: Duration = Duration::from_secs(30);
/// How long without a failure before a success ends the episode.
pub(crate) const QUIET: Duration = Duration::from_secs(2);

/// What a call logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logged {
    Started,
    Lasting,
    Ended,
}

#[derive(Debug)]
struct Ongoing {
    since: Instant,
    last_failure: Instant,
    last_logged: Instant,
    failures: u64,
}

/// One kind of repeating failure, e.g. "the disk holding the database is full".
#[derive(Debug)]
pub(crate) struct Episode {
    /// Logged (error) when it starts and while it lasts.
    what: &'static str,
    /// Logged (warn) when it is over.
    over: &'static str,
    ongoing: Option<Ongoing>,
}

impl Episode {
    pub fn new(what: &'static str, over: &'static str) -> Self {
        Self {
            what,
            over,
            ongoing: None,
        }
    }

    /// A failure, with what the store said.
    pub fn failed(&mut self, detail: &str, now: Instant) -> Option<Logged> {
        match &mut self.ongoing {
            None => {
                tracing::error!(error = %detail, "{}", self.what);
                self.ongoing = Some(Ongoing {
                    since: now,
                    last_failure: now,
                    last_logged: now,
                    failures: 1,
                });
                Some(Logged::Started)
            }
            Some(o) => {
                o.failures += 1;
                o.last_failure = now;
                if now.duration_since(o.last_logged) < RELOG {
                    return None;
                }
                o.last_logged = now;
                tracing::error!(
                    error = %detail,
                    for_secs = now.duration_since(o.since).as_secs(),
                    failures = o.failures,
                    "{} (still)",
                    self.what
                );
                Some(Logged::Lasting)
            }
        }
    }

    /// A success.
    pub fn succeeded(&mut self, now: Instant) -> Option<Logged> {
        let o = self.ongoing.as_ref()?;
        if now.duration_since(o.last_failure) < QUIET {
            return None;
        }
        tracing::warn!(
            after_secs = now.duration_since(o.since).as_secs(),
            failures = o.failures,
            "{}",
            self.over
        );
        self.ongoing = None;
        Some(Logged::Ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_start_the_duration_and_the_end_not_every_failure() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut e = Episode::new("disk full", "disk ok");
        assert_eq!(e.succeeded(at(0)), None, "nothing to end");
        assert_eq!(e.failed("full", at(0)), Some(Logged::Started));
        assert_eq!(e.failed("full", at(10)), None);
        // A success amid failures (a commit that still fitted) does not end it.
        assert_eq!(e.succeeded(at(20)), None);
        assert_eq!(e.failed("full", at(30)), None);
        let later = 30 + RELOG.as_millis() as u64;
        assert_eq!(e.failed("full", at(later)), Some(Logged::Lasting));
        assert_eq!(e.failed("full", at(later + 1)), None);
        let quiet = later + 1 + QUIET.as_millis() as u64;
        assert_eq!(e.succeeded(at(quiet)), Some(Logged::Ended));
        assert_eq!(e.succeeded(at(quiet + 1)), None);
        assert_eq!(e.failed("full", at(quiet + 2)), Some(Logged::Started));
    }
}
