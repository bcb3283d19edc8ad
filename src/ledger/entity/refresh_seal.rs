//! A spent refresh token's successor, sealed under that token, kept for a
//! retry within the grace window (see `RefreshToken::seal_successor`).

use sea_orm::entity::prelude::*;

/// A row of `refresh_seals`: at most one per spent token, deleted when its
/// successor is spent or its grace window is over.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_refresh_seals")]
pub struct Model {
    /// The spent token's hash.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// When the token was spent, by the database's clock (Unix seconds).
    pub sealed_at: i64,
    /// The successor, sealed under the spent token.
    pub seal: String,
}

/// A seal relates to nothing the ledger follows by relation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
