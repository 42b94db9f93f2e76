//! Bisection of a batch TikTok refused as invalid (40002): TikTok names no event, so the engine splits
//! the batch in halves and resends each half until the offending events are isolated. Those go dead
//! with TikTok's message; the rest are delivered. This module is the pure splitting logic: the engine
//! asks [`Bisection::next_slice`] which slice to send and reports refusals with [`Bisection::rejected`].

use std::ops::Range;

/// The state of one bisection over a batch of `len` events (indices into the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bisection {
    /// Slices still to send; popped from the end.
    to_send: Vec<Range<usize>>,
    /// Single events TikTok refused on their own.
    isolated: Vec<usize>,
}

impl Bisection {
    /// Starts after the whole batch `0..len` was refused as invalid.
    pub fn after_rejected_batch(len: usize) -> Self {
        let mut b = Bisection {
            to_send: Vec::new(),
            isolated: Vec::new(),
        };
        b.rejected(0..len);
        b
    }

    /// The next slice to send, or `None` when every event is settled.
    pub fn next_slice(&mut self) -> Option<Range<usize>> {
        self.to_send.pop()
    }

    /// TikTok refused `range` as invalid: a single event is isolated, a larger slice is split.
    /// Every other outcome of a slice (delivered, retryable, auth) settles it; nothing to report.
    pub fn rejected(&mut self, range: Range<usize>) {
        match range.len() {
            0 => {}
            1 => self.isolated.push(range.start),
            n => {
                let mid = range.start + n / 2;
                // Pushed right first so the left half is sent first.
                self.to_send.push(mid..range.end);
                self.to_send.push(range.start..mid);
            }
        }
    }

    /// The events refused on their own so far, in the order they were isolated.
    pub fn isolated(&self) -> &[usize] {
        &self.isolated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Runs a bisection against a fake TikTok that refuses any slice containing a bad event.
    fn run(len: usize, bad: &BTreeSet<usize>) -> (Vec<usize>, Vec<usize>, usize) {
        let mut b = Bisection::after_rejected_batch(len);
        let mut delivered = Vec::new();
        let mut sends = 0;
        while let Some(range) = b.next_slice() {
            sends += 1;
            if range.clone().any(|i| bad.contains(&i)) {
                b.rejected(range);
            } else {
                delivered.extend(range);
            }
        }
        (b.isolated().to_vec(), delivered, sends)
    }

    #[test]
    fn isolates_the_single_bad_event_of_a_thousand() {
        let bad = BTreeSet::from([613]);
        let (isolated, delivered, sends) = run(1000, &bad);
        assert_eq!(isolated, [613]);
        assert_eq!(delivered.len(), 999);
        assert!(sends <= 2 * 10, "{sends} requests");
    }

    #[test]
    fn a_one_event_batch_is_isolated_without_resending() {
        let mut b = Bisection::after_rejected_batch(1);
        assert_eq!(b.isolated(), [0]);
        assert_eq!(b.next_slice(), None);
    }

    proptest! {
        #[test]
        fn bisection_always_isolates_exactly_the_bad_events(
            len in 1usize..300,
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..8),
        ) {
            let bad: BTreeSet<usize> = picks.iter().map(|p| p.index(len)).collect();
            let (isolated, delivered, sends) = run(len, &bad);
            let isolated: BTreeSet<usize> = isolated.into_iter().collect();
            prop_assert_eq!(&isolated, &bad);
            let delivered_set: BTreeSet<usize> = delivered.iter().copied().collect();
            prop_assert_eq!(delivered_set.len(), delivered.len(), "no event delivered twice");
            prop_assert_eq!(delivered.len() + bad.len(), len, "every event settled");
            prop_assert!(delivered_set.is_disjoint(&bad));
            let depth = usize::BITS - len.leading_zeros();
            prop_assert!(sends <= 2 * bad.len() * depth as usize + 1, "{} sends", sends);
        }
    }
}
