//! One refresh token, known only by its hash, chained to its parent.

use sea_orm::entity::prelude::*;

/// A row of `refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_refresh_tokens")]
pub struct Model {
    /// SHA-256 of the token, lowercase hex. The token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The hash of the token it was rotated from; `None` for the login's.
    pub parent_hash: Option<String>,
    /// 0 for the token issued at login, +1 per rotation.
    pub generation: i32,
    /// When it was issued (Unix seconds).
    pub created_at: i64,
    /// The idle limit: slides with each rotation, capped by the session's end.
    pub expires_at: i64,
    /// Set once, by the one rotation that spent this token, from the
    /// database's clock (the grace window is measured against it).
    pub used_at: Option<i64>,
    /// The hash of the token that rotation issued in its place (the
    /// successor itself, sealed, is in `refresh_seals` for a while).
    pub successor_hash: Option<String>,
}

/// The table's relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The session the token belongs to; deleting it deletes the token.
    #[sea_orm(
        belongs_to = "super::session::Entity",
        from = "Column::SessionId",
        to = "super::session::Column::Id",
        on_delete = "Cascade"
    )]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
