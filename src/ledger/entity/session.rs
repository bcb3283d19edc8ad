//! One login: a subject on a client and device, with an absolute lifetime.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subject: String,
    pub client_id: String,
    pub device: String,
    /// JSON array of audiences.
    pub audience: String,
    /// Space-separated scopes.
    pub scope: String,
    /// JSON object of custom claims.
    pub claims: String,
    /// Unix seconds, as every time in the ledger.
    pub created_at: i64,
    pub last_used_at: i64,
    /// The absolute end of the session; rotation never extends it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshTokens,
}

impl Related<super::refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
