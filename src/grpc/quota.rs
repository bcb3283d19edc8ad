//! How many long-lived streams (`WatchKeys`, `WatchRevocations`) each
//! caller may hold. Each open stream holds a [`Held`] slot, given back when
//! the stream ends however it ends. Authenticated callers get
//! `max_watch_streams_per_caller` each; anonymous callers, who cannot be
//! told apart, share one pool of `max_anonymous_watch_streams`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::{authority::AuthorityError, callers::Caller};

/// The streams held, by caller.
#[derive(Debug)]
pub(super) struct StreamQuota {
    per_caller: usize,
    anonymous: usize,
    /// Streams held per caller name; `None` is every anonymous caller.
    held: Mutex<HashMap<Option<String>, usize>>,
}

impl StreamQuota {
    pub(super) fn new(per_caller: usize, anonymous: usize) -> Arc<Self> {
        Arc::new(Self {
            per_caller,
            anonymous,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more stream of `caller`, or `TooManyStreams`.
    pub(super) fn take(self: &Arc<Self>, caller: &Caller) -> Result<Held, AuthorityError> {
        let (key, limit) = if caller.is_authenticated() {
            (Some(caller.name().to_owned()), self.per_caller)
        } else {
            (None, self.anonymous)
        };
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= limit {
            return Err(AuthorityError::TooManyStreams { limit });
        }
        *count += 1;
        Ok(Held {
            quota: self.clone(),
            key,
        })
    }

    /// How many streams `caller` holds now.
    #[cfg(test)]
    fn held_by(&self, caller: &Caller) -> usize {
        let key = caller.is_authenticated().then(|| caller.name().to_owned());
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&key).copied().unwrap_or(0)
    }
}

/// One stream's slot, given back on drop.
#[derive(Debug)]
pub(super) struct Held {
    quota: Arc<StreamQuota>,
    key: Option<String>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self
            .quota
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Entries for callers with nothing open are not kept.
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_has_its_own_slots_and_anonymous_callers_share_theirs() {
        let quota = StreamQuota::new(2, 1);
        let dev = Caller::dev();
        let nobody = Caller::anonymous();
        let a = quota.take(&dev).unwrap();
        let _b = quota.take(&dev).unwrap();
        assert!(matches!(
            quota.take(&dev),
            Err(AuthorityError::TooManyStreams { limit: 2 })
        ));
        let _c = quota.take(&nobody).unwrap();
        assert!(quota.take(&nobody).is_err(), "the anonymous pool is full");
        drop(a);
        assert_eq!(quota.held_by(&dev), 1);
        assert!(
            quota.take(&dev).is_ok(),
            "a closed stream gives its slot back"
        );
    }

    #[test]
    fn a_zero_pool_refuses_every_anonymous_stream() {
        let quota = StreamQuota::new(4, 0);
        assert!(quota.take(&Caller::anonymous()).is_err());
        assert!(quota.take(&Caller::dev()).is_ok());
    }
}
