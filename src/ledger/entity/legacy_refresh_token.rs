//! A former system's refresh token, imported by its SHA-256 only: exchanged
//! once for an inkan session.

use sea_orm::entity::prelude::*;

/// A row of `legacy_refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legacy_refresh_tokens")]
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
}

/// The table's relations: none (its session is linked by id only).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
