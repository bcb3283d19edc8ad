//! [`Requirements`]: what a call asks of a token beyond being inkan's and
//! valid.

use inkan_core::ids::Scope;

/// What a call asks of a token beyond being inkan's and valid: an audience
/// and scopes.
///
/// ```
/// use inkan_client::{Requirements, Scope};
///
/// let reads = Requirements::new()
///     .audience("orders")
///     .scope(Scope::parse("orders:read").unwrap());
/// assert_eq!(reads.required_audience(), Some("orders"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    pub(super) audience: Option<String>,
    pub(super) scopes: Vec<Scope>,
}

impl Requirements {
    /// Any audience, no scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token's `aud` must contain `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The token's `scope` must contain `scope` (and any added before).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scopes.push(scope);
        self
    }

    /// The audience required, if any.
    pub fn required_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The scopes required.
    pub fn required_scopes(&self) -> &[Scope] {
        &self.scopes
    }
}
