//! Finding the events TikTok refused in a batch it rejected as invalid (40002 and the other content
//! codes), in as few requests as the answers allow. This module is the pure planning: which parts of
//! the batch to send next. The engine sends them (several at once), reports each answer, and settles
//! the parts that were accepted or failed for another reason.
//!
//! - When TikTok names the event (`Invalid value for data.N.…`), event N of that request is set aside
//!   and the rest of the request is sent again at once as one part: the events before N passed
//!   TikTok's in-order validation, so a batch with k bad events settles in about k + 1 requests.
//!   When the named event was the first of its part (nothing learned about the rest) and the rest is
//!   large, the rest is split in two parts sent side by side, so a batch of nothing but bad events
//!   still settles in one request per event, concurrently rather than one after another.
//! - When no event is named, the part is bisected, and a single refused event is set aside.
//!
//! No part is ever sent twice: every request carries a set of events that no earlier request carried
//! in exactly that composition, and every event ends in exactly one settled part or set aside.

use std::collections::VecDeque;

/// Below this size, the rest of a part whose first event was refused stays one part.
const SPLIT_AT_LEAST: usize = 8;

/// One request's worth of events: indices into the batch, in batch order.
pub type Part = Vec<usize>;

/// The plan of one batch's delivery (indices `0..len`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    to_send: VecDeque<Part>,
}

impl Isolation {
    /// Starts with the whole batch `0..len` as the first part to send.
    pub fn new(len: usize) -> Self {
        let mut to_send = VecDeque::new();
        if len > 0 {
            to_send.push_back((0..len).collect());
        }
        Isolation { to_send }
    }

    /// The next part to send, if any is waiting. More may arrive after a refusal is reported.
    pub fn next_part(&mut self) -> Option<Part> {
        self.to_send.pop_front()
    }

    /// Whether no part is waiting to be sent.
    pub fn is_idle(&self) -> bool {
        self.to_send.is_empty()
    }

    /// The destination refused `part` as invalid, naming event `named` of the request (its position
    /// in the request's `data`) when the message said which. Returns the batch index of the event set
    /// aside (to be settled dead with the destination's message), if one could be; the rest of the part is queued.
    pub fn refused(&mut self, part: Part, named: Option<usize>) -> Option<usize> {
        match (part.len(), named) {
            (0, _) => None,
            (1, _) => Some(part[0]),
            (_, Some(at)) if at < part.len() => {
                let mut rest = part;
                let bad = rest.remove(at);
                if at == 0 && rest.len() >= SPLIT_AT_LEAST {
                    self.split(rest);
                } else {
                    self.to_send.push_back(rest);
                }
                Some(bad)
            }
            // No usable index: bisect.
            _ => {
                self.split(part);
                None
            }
        }
    }

    fn split(&mut self, mut part: Part) {
        let right = part.split_off(part.len() / 2);
        for half in [part, right] {
            if !half.is_empty() {
                self.to_send.push_back(half);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Outcome of a simulated delivery: events set aside, events delivered, requests sent (their
    /// event sets, in order).
    struct Run {
        set_aside: Vec<usize>,
        delivered: Vec<usize>,
        requests: Vec<Part>,
    }

    /// Runs an isolation against a fake TikTok that refuses any part holding a bad event and, when
    /// `names` is set, names the first bad one, as TikTok's in-order validation does.
    fn run(len: usize, bad: &BTreeSet<usize>, names: bool) -> Run {
        let mut iso = Isolation::new(len);
        let mut out = Run {
            set_aside: Vec::new(),
            delivered: Vec::new(),
            requests: Vec::new(),
        };
        while let Some(part) = iso.next_part() {
            out.requests.push(part.clone());
            match part.iter().position(|i| bad.contains(i)) {
                None => out.delivered.extend(&part),
                Some(at) => {
                    let named = names.then_some(at);
                    out.set_aside.extend(iso.refused(part, named));
                }
            }
        }
        out
    }

    #[test]
    fn ten_bad_events_of_a_thousand_settle_in_eleven_requests_when_named() {
        let bad: BTreeSet<usize> = (0..10).map(|i| 37 + i * 97).collect();
        let out = run(1000, &bad, true);
        assert_eq!(out.set_aside.iter().copied().collect::<BTreeSet<_>>(), bad);
        assert_eq!(out.delivered.len(), 990);
        assert_eq!(out.requests.len(), 11);
    }

    #[test]
    fn a_batch_of_only_bad_events_takes_one_request_per_event_and_fans_out() {
        let bad: BTreeSet<usize> = (0..1000).collect();
        let out = run(1000, &bad, true);
        assert_eq!(out.set_aside.len(), 1000);
        assert_eq!(out.requests.len(), 1000);
        // After the first refusal the rest is split, so later requests do not wait on one another.
        assert_eq!(out.requests[1].len() + out.requests[2].len(), 999);
    }

    #[test]
    fn an_index_outside_the_request_falls_back_to_bisection() {
        let mut iso = Isolation::new(4);
        let part = iso.next_part().unwrap();
        assert_eq!(iso.refused(part, Some(9)), None);
        assert_eq!(iso.next_part(), Some(vec![0, 1]));
        assert_eq!(iso.next_part(), Some(vec![2, 3]));
        assert!(iso.is_idle());
    }

    #[test]
    fn a_single_refused_event_is_set_aside_without_resending() {
        let mut iso = Isolation::new(1);
        let part = iso.next_part().unwrap();
        assert_eq!(iso.refused(part, None), Some(0));
        assert_eq!(iso.next_part(), None);
    }

    proptest! {
        #[test]
        fn every_bad_event_is_set_aside_and_every_good_one_delivered_once(
            len in 1usize..400,
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..12),
            names in any::<bool>(),
        ) {
            let bad: BTreeSet<usize> = picks.iter().map(|p| p.index(len)).collect();
            let out = run(len, &bad, names);
            let set_aside: BTreeSet<usize> = out.set_aside.iter().copied().collect();
            prop_assert_eq!(&set_aside, &bad);
            prop_assert_eq!(set_aside.len(), out.set_aside.len(), "nothing set aside twice");
            let delivered: BTreeSet<usize> = out.delivered.iter().copied().collect();
            prop_assert_eq!(delivered.len(), out.delivered.len(), "no event delivered twice");
            prop_assert!(delivered.is_disjoint(&bad));
            prop_assert_eq!(delivered.len() + bad.len(), len, "every event settled");
            let distinct: BTreeSet<&Part> = out.requests.iter().collect();
            prop_assert_eq!(distinct.len(), out.requests.len(), "no request repeated");
            let k = bad.len();
            if names {
                prop_assert!(out.requests.len() <= 2 * k + 1, "{} requests", out.requests.len());
            } else {
                let depth = (usize::BITS - len.leading_zeros()) as usize;
                prop_assert!(out.requests.len() <= 2 * k * depth + 1, "{} requests", out.requests.len());
            }
        }
    }
}
