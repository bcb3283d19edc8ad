//! One refresh token, known only by its hash, chained to its parent.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// SHA-256 of the token, lowercase hex. The token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub session_id: String,
    pub parent_hash: Option<String>,
    /// 0 for the token issued at login, +1 per rotation.
    pub generation: i32,
    pub created_at: i64,
    /// The idle limit: slides with each rotation, capped by the session's end.
    pub expires_at: i64,
    /// Set once, by the one rotation that spent this token, from the
    /// database's clock (the grace window is measured against it).
    pub used_at: Option<i64>,
    pub successor_hash: Option<String>,
    /// The successor, sealed under this token (see `RefreshToken::seal_successor`).
    pub successor_seal: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
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
