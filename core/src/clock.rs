//! The one source of "now" for tokens and the ledger: Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix seconds.
pub fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
