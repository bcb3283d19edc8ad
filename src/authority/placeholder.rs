//! Tokens signed with a placeholder secret: each is refused (as
//! `SIGNATURE_INVALID`, by the verification itself), counted, and logged
//! once per token id as a security event. The "once" is kept for a bounded
//! number of ids, so a flood of forged tokens costs a fixed amount of
//! memory: past that, the oldest ids are forgotten (and would be logged
//! again), which errs on the side of saying more.

use std::{
    collections::{HashSet, VecDeque},
    sync::Mutex,
};

use tracing::warn;

use super::Authority;

/// How many token ids are remembered as already logged.
const REMEMBERED: usize = 4096;

/// The ids of placeholder-signed tokens already logged, oldest first.
#[derive(Debug, Default)]
pub(super) struct SeenOnce {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl SeenOnce {
    /// Whether `id` is new (and now remembered).
    pub(super) fn first_time(&self, id: &str) -> bool {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        if order.len() >= REMEMBERED {
            if let Some(oldest) = order.pop_front() {
                set.remove(&oldest);
            }
        }
        set.insert(id.to_owned());
        order.push_back(id.to_owned());
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .len()
    }
}

impl Authority {
    /// Counts a token signed with `placeholder`, presented to `rpc`, and
    /// logs it as a security event the first time its id is seen.
    pub(super) fn placeholder_signed(&self, rpc: &'static str, placeholder: &str, token_id: &str) {
        self.metrics.keys().placeholder_signed(placeholder);
        if self.placeholder_seen.first_time(token_id) {
            warn!(
                security_event = true,
                rpc,
                placeholder,
                token_id,
                "refused a token signed with a placeholder secret: forged, or issued while a \
                 secret was unset; find the service that signs with it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_and_memory_stays_bounded() {
        let seen = SeenOnce::default();
        assert!(seen.first_time("jti:a"));
        assert!(!seen.first_time("jti:a"));
        for i in 0..REMEMBERED + 10 {
            seen.first_time(&format!("jti:{i}"));
        }
        assert_eq!(seen.len(), REMEMBERED);
        // The oldest were forgotten; the newest are still known.
        assert!(seen.first_time("jti:a"));
        assert!(!seen.first_time(&format!("jti:{}", REMEMBERED + 9)));
    }
}
