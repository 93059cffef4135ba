//! What a cycle's checks find ([`Outcome`]), and how the GDAP listings of many partners,
//! arriving in any order, are gathered into one ([`Gathered`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use common::graph::DelegatedAdminRelationship;
use common::tokens::GrantMetadata;

use super::metrics::Sample;
use super::relationship::{Interner, Relationship};
use super::{Finding, State};

/// What one cycle found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings in check order.
    pub findings: Vec<Finding>,
    /// Gauges of this cycle.
    pub gauges: Vec<Sample>,
    /// Checks that could not (fully) run.
    pub errors: Vec<&'static str>,
    /// Keepalive results.
    pub keepalive: BTreeMap<&'static str, u64>,
    /// Partners whose keepalive succeeded.
    pub kept_alive: Vec<String>,
    /// A partner must consent again.
    pub needs_consent: bool,
    /// The stored partners' grants (metadata only), for the console.
    pub partners: Vec<GrantMetadata>,
    /// The GDAP relationships listed, for the console and the gauges (each shared with the
    /// previous cycle's snapshot when it has not changed since: [`super::relationship::shared`]).
    pub relationships: Vec<Arc<Relationship>>,
    /// The relationships listed with the configured partner's grant, whole: the access check
    /// proves access with that grant, so it looks at these only (another stored partner's
    /// customers are reached with that partner's grant, not this one).
    pub own: Vec<DelegatedAdminRelationship>,
    /// Statuses and role sets of the relationships kept, each kept once.
    pub interner: Interner,
    /// A check could not run for a reason that may pass (an outage, a timeout), rather than a
    /// refusal that stays until someone grants a permission.
    pub transient: bool,
}

impl Outcome {
    /// Appends what `other` found (its findings after this one's). The longer list keeps its
    /// buffer (the shorter one is moved into it), so absorbing 100,000 relationships never
    /// holds two copies of them.
    pub fn absorb(&mut self, other: Outcome) {
        append(&mut self.findings, other.findings);
        append(&mut self.relationships, other.relationships);
        self.gauges.extend(other.gauges);
        for check in other.errors {
            if !self.errors.contains(&check) {
                self.errors.push(check);
            }
        }
        for (result, n) in other.keepalive {
            *self.keepalive.entry(result).or_default() += n;
        }
        self.kept_alive.extend(other.kept_alive);
        self.needs_consent |= other.needs_consent;
        self.partners.extend(other.partners);
        self.own.extend(other.own);
        self.transient |= other.transient;
    }

    pub(super) fn push(
        &mut self,
        check: &'static str,
        subject: impl Into<Arc<str>>,
        state: State,
        message: impl Into<String>,
        seconds_left: Option<i64>,
    ) {
        self.findings.push(Finding {
            check,
            subject: subject.into(),
            state,
            message: message.into(),
            seconds_left,
        });
    }

    /// `check` could not run for `subject`, for a reason that may pass.
    pub(super) fn error(
        &mut self,
        check: &'static str,
        subject: impl Into<Arc<str>>,
        message: impl Into<String>,
    ) {
        self.refused(check, subject, message);
        self.transient = true;
    }

    /// `check` did not run for `subject` by design (it needs a permission the app does not
    /// request): `message` says why and how to turn it on. Not an error.
    pub(super) fn skipped(
        &mut self,
        check: &'static str,
        subject: impl Into<Arc<str>>,
        message: impl Into<String>,
    ) {
        self.push(check, subject, State::Skipped, message, None);
    }

    /// `check` could not run for `subject`: a service refused (403), which no retry changes.
    pub(super) fn refused(
        &mut self,
        check: &'static str,
        subject: impl Into<Arc<str>>,
        message: impl Into<String>,
    ) {
        self.push(check, subject, State::Unknown, message, None);
        if !self.errors.contains(&check) {
            self.errors.push(check);
        }
    }
}

/// `tail` after `list`, in whichever of the two buffers is larger.
fn append<T>(list: &mut Vec<T>, mut tail: Vec<T>) {
    if tail.capacity() > list.capacity() {
        tail.splice(0..0, std::mem::take(list));
        *list = tail;
    } else {
        list.extend(tail);
    }
}

/// The GDAP results of many partners gathered as their listings complete, in any order,
/// straight into one [`Outcome`]: each partner's relationships and findings are moved into the
/// one list each as they come, never held in a list per partner and copied again at the end
/// (a thousand partners' 100,000 relationships would be held twice). The findings and gauges
/// are put back in the partners' order at the end ([`Self::into_ordered`]); the relationships
/// stay in the order they came (the cycle's snapshot sorts them by customer).
#[derive(Debug, Default)]
pub struct Gathered {
    out: Outcome,
    /// The rank of the partner each finding (gauge) is about.
    finding_ranks: Vec<u32>,
    gauge_ranks: Vec<u32>,
}

impl Gathered {
    /// Makes room for `listed` more relationships (and their findings) when the lists are
    /// full: as many for each of the `left` partners still to come, as a guess, and `extra`
    /// findings more (those the cycle puts in front of these). Room never written is only
    /// address space, so a guess too large costs no memory; one too small costs a copy. The
    /// guess is capped at [`Self::MAX_GUESS`] (one partner with thousands of customers among a
    /// thousand with few must not reserve gigabytes); past it the lists grow as they fill.
    pub fn reserve(&mut self, listed: usize, left: usize, extra: usize) {
        let guess = listed.saturating_mul(left).min(Self::MAX_GUESS).max(listed);
        let out = &mut self.out;
        if out.relationships.capacity() - out.relationships.len() < listed {
            out.relationships.reserve_exact(guess);
        }
        if out.findings.capacity() - out.findings.len() < listed {
            out.findings.reserve_exact(guess.saturating_add(extra));
        }
    }

    /// The most relationships [`Self::reserve`] makes room for at once.
    pub const MAX_GUESS: usize = 500_000;

    /// Runs `take` on the gathered outcome for the partner of rank `rank`.
    pub fn take(&mut self, rank: u32, take: impl FnOnce(&mut Outcome)) {
        take(&mut self.out);
        self.finding_ranks.resize(self.out.findings.len(), rank);
        self.gauge_ranks.resize(self.out.gauges.len(), rank);
    }

    /// The gathered outcome, its findings and gauges in the order of their partners' ranks
    /// (those of one partner in the order they were found).
    pub fn into_ordered(mut self) -> Outcome {
        reorder(&mut self.out.findings, &mut self.finding_ranks);
        reorder(&mut self.out.gauges, &mut self.gauge_ranks);
        self.out
    }
}

/// Puts `items` in the order of their `ranks` (one per item), keeping the order of items of
/// the same rank, in place: a counting sort that computes each item's place, then moves the
/// items along the cycles of that permutation by swaps. `ranks` is used up as scratch.
/// Written here because the standard sorts either take a buffer of half the list (stable) or
/// would need the rank inside each item (unstable).
fn reorder<T>(items: &mut [T], ranks: &mut [u32]) {
    debug_assert_eq!(items.len(), ranks.len());
    let Some(&top) = ranks.iter().max() else {
        return;
    };
    // starts[r]: where the items of rank r begin.
    let mut starts = vec![0u32; top as usize + 2];
    for &r in ranks.iter() {
        starts[r as usize + 1] += 1;
    }
    for r in 1..starts.len() {
        starts[r] += starts[r - 1];
    }
    // Each rank becomes its item's place.
    for r in ranks.iter_mut() {
        let place = &mut starts[*r as usize];
        *r = *place;
        *place += 1;
    }
    for i in 0..items.len() {
        while ranks[i] as usize != i {
            let place = ranks[i] as usize;
            items.swap(i, place);
            ranks.swap(i, place);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The result is the stable sort by rank.
        #[test]
        fn reorder_is_a_stable_sort_by_rank(ranks in proptest::collection::vec(0u32..12, 0..200)) {
            let mut items: Vec<(u32, usize)> = ranks.iter().copied().zip(0..).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|(rank, _)| *rank);
            let mut scratch = ranks.clone();
            reorder(&mut items, &mut scratch);
            prop_assert_eq!(items, expected);
        }
    }

    #[test]
    fn gathered_findings_come_out_in_rank_order_and_relationships_as_they_came() {
        let mut g = Gathered::default();
        for (rank, subject) in [(2, "c1"), (0, "a1"), (2, "c2"), (1, "b1"), (0, "a2")] {
            g.take(rank, |out| {
                out.push("gdap", subject, State::Ok, "fine", None);
                out.gauges.push(Sample::new("g", &[("s", subject)], 1));
            });
        }
        let out = g.into_ordered();
        let subjects: Vec<&str> = out.findings.iter().map(|f| &*f.subject).collect();
        assert_eq!(subjects, ["a1", "a2", "b1", "c1", "c2"]);
        let gauges: Vec<&str> = out.gauges.iter().map(|s| s.labels[0].1.as_str()).collect();
        assert_eq!(gauges, ["a1", "a2", "b1", "c1", "c2"]);
    }

    #[test]
    fn reserve_guesses_room_for_the_partners_left_and_keeps_it() {
        let mut g = Gathered::default();
        g.reserve(100, 10, 30);
        assert!(g.out.relationships.capacity() >= 1_000);
        assert!(g.out.findings.capacity() >= 1_030);
        let cap = g.out.findings.capacity();
        g.reserve(100, 9, 30);
        assert_eq!(
            g.out.findings.capacity(),
            cap,
            "room left: nothing reserved"
        );
        // A partner with many customers among many partners left: the guess is capped.
        let mut g = Gathered::default();
        g.reserve(20_000, 1_000, 0);
        let cap = g.out.relationships.capacity();
        assert!(
            (Gathered::MAX_GUESS..2 * Gathered::MAX_GUESS).contains(&cap),
            "{cap}"
        );
    }
}
