//! Inputs outside a function's documented domain, counted on shares and revealed on
//! request.
//!
//! A function that learns (as shares) which of its inputs lie outside the domain where its
//! error bound holds adds their number to a shared counter under its name; nothing is
//! revealed then. [`Session::domain_report`] opens every counter at once (one round),
//! which reveals how many inputs of each function were out of range, and nothing else.

use std::collections::BTreeMap;

use cloak_ring::RingTensor;

use super::FnCtx;
use crate::config::DomainChecks;
use crate::error::Result;
use crate::session::Session;

/// Per function: elements checked (public) and this party's share of how many were outside
/// (a one-element tensor where the session computes, so that counting moves nothing
/// between host and device). Kept in the session's context as an extension.
#[derive(Clone, Debug, Default)]
struct DomainLog {
    entries: BTreeMap<&'static str, (u64, RingTensor<u64>)>,
}

/// How many inputs of one function lay outside its domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainStat {
    /// The function.
    pub op: &'static str,
    /// Elements checked.
    pub checked: u64,
    /// Elements outside the documented domain.
    pub outside: u64,
}

impl FnCtx<'_> {
    /// Whether a check that costs nothing extra is recorded.
    pub(crate) fn domain_checks_free(&self) -> bool {
        self.cfg.domain_checks != DomainChecks::Off
    }

    /// Whether a check that needs its own comparison is made.
    pub(crate) fn domain_checks_all(&self) -> bool {
        self.cfg.domain_checks == DomainChecks::All
    }

    /// Adds shares of 0/1 indicators (scale 1) of out-of-domain elements to `op`'s counter.
    pub(crate) fn record_domain(
        &mut self,
        op: &'static str,
        outside: &RingTensor<u64>,
    ) -> Result<()> {
        let n = outside.len();
        let sum = if outside.is_host() {
            let total = outside.as_slice().iter().fold(0u64, |a, v| a.wrapping_add(*v));
            RingTensor::from_vec(&[1], vec![total])?
        } else {
            outside.reshape(&[n])?.sum_axis(0, true)?
        };
        let log = &mut self.extension::<DomainLog>().entries;
        let entry = match log.remove(op) {
            Some((checked, share)) => (checked + n as u64, share.add(&sum)?),
            None => (n as u64, sum),
        };
        log.insert(op, entry);
        Ok(())
    }
}

impl Session {
    /// Reveals, for every function checked since the last report, how many of its inputs
    /// lay outside its documented domain (where its error bound does not hold), and clears
    /// the counters. One round; every party must call it. It reveals those counts and
    /// nothing else.
    ///
    /// # Errors
    /// A communication error.
    pub fn domain_report(&self) -> Result<Vec<DomainStat>> {
        self.scoped("domain_report", || {
            let mut s = self.context()?;
            let entries = std::mem::take(&mut s.extension::<DomainLog>().entries);
            let parts: Vec<&RingTensor<u64>> = entries.values().map(|(_, share)| share).collect();
            let shares = if parts.is_empty() {
                RingTensor::zeros(&[0])
            } else {
                RingTensor::concat(&parts, 0)?
            };
            let masked = s.rerandomized(&shares);
            let opened = s.open_words("domain_report", vec![masked], false)?.remove(0);
            Ok(entries
                .into_iter()
                .zip(opened)
                .map(|((op, (checked, _)), outside)| DomainStat { op, checked, outside })
                .collect())
        })
    }
}
