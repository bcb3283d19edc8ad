//! Nothing but examples: see `examples/`, and the README's "Verifying
//! tokens" section. Cargo needs one library or binary target to build them.

#![forbid(unsafe_code)]
