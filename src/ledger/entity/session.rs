//! One login: a subject on a client and device, with an absolute lifetime.

use sea_orm::entity::prelude::*;

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_sessions")]
pub struct Model {
    /// The session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Whom the session is for.
    pub subject: String,
    /// The caller that opened it.
    pub client_id: String,
    /// What the caller said of the device.
    pub device: String,
    /// JSON array of audiences.
    pub audience: String,
    /// Space-separated scopes.
    pub scope: String,
    /// JSON object of custom claims.
    pub claims: String,
    /// Unix seconds, as every time in the ledger.
    pub created_at: i64,
    /// When it was last refreshed, or opened if never (Unix seconds).
    pub last_used_at: i64,
    /// The absolute end of the session; rotation never extends it.
    pub expires_at: i64,
    /// When it was revoked (Unix seconds); `None` while it is not.
    pub revoked_at: Option<i64>,
    /// Why it was revoked, at most 255 characters.
    pub revoke_reason: Option<String>,
}

/// The table's relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Every refresh token the session has had.
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshTokens,
}

impl Related<super::refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
