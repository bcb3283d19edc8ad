//! A subject's cut-off: its tokens issued before `not_before` are refused.

use sea_orm::entity::prelude::*;

/// A row of `subject_cut_offs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inkan_subject_cut_offs")]
pub struct Model {
    /// The subject cut off.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// Unix seconds; only ever moves forward.
    pub not_before: i64,
}

/// The table's relations: none.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
