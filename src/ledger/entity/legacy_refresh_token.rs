//! A former system's refresh token, imported by its SHA-256 only: exchanged
//! once for an inkan session. A JWT one is also verified by a legacy key;
//! an opaque one is only this row, which says whom it belongs to, when it
//! ends and, when the export said, its client and device.

use sea_orm::entity::prelude::*;

/// A row of `legacy_refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_legacy_refresh_tokens")]
pub struct Model {
    /// SHA-256 of the token, lowercase hex. The token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// Whom the former system issued it to, as its export says.
    pub subject: String,
    /// When the former system would have stopped taking it (Unix seconds).
    pub expires_at: i64,
    /// When the import stored it (Unix seconds).
    pub imported_at: i64,
    /// Set once, by the one exchange that spent it.
    pub used_at: Option<i64>,
    /// The inkan session that exchange opened.
    pub session_id: Option<String>,
    /// `jwt` (verified by a legacy key when exchanged) or `opaque` (a
    /// random string: this row is all that vouches for it).
    pub kind: String,
    /// The legacy key an opaque token is exchanged under: its sunset ends
    /// the exchange, its session grant is what the session carries.
    pub legacy_key: Option<String>,
    /// The client the former system issued it to, if the export said.
    pub client_id: Option<String>,
    /// The device it was issued on, if the export said.
    pub device: Option<String>,
}

/// The table's relations: none (its session is linked by id only).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
