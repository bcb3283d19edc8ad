//! One revocation in the log the revocation feed reads: a session ended or
//! a subject cut off, stamped with the database's clock.

use sea_orm::entity::prelude::*;

/// A row of `revocation_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_revocation_events")]
pub struct Model {
    /// A random UUID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `session` or `subject`.
    pub kind: String,
    /// The session id, or the subject.
    pub target: String,
    /// When the session was revoked, or the subject's cut-off (Unix seconds).
    pub at: i64,
    /// The database's clock when the row was written (Unix seconds).
    pub recorded_at: i64,
}

/// The table's relations: none (its target is a session id or a subject).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
