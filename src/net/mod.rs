//! The network edge every port shares: accepting sockets, and the limits
//! that keep what an anonymous client can hold open bounded.
//!
//! - [`listener`]: the accept loop (every socket gets `TCP_NODELAY`).
//! - [`gate`]: how many connections a port holds, and when a connection
//!   that says nothing, or has nothing open, is closed.
//! - [`ConnectionInfo`]: what every request knows of its connection.
//! - [`track`]: the tower layer that tells a connection's gate which calls
//!   are open on it, so a connection serving a long stream is never idle.

pub mod gate;
mod info;
pub mod listener;
pub mod track;

pub use gate::{Activity, ConnectionLimits, Gate, Guarded};
pub use info::ConnectionInfo;
pub use track::TrackCallsLayer;
