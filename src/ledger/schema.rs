//! Which schema the ledger's database holds, against the migrations this
//! build knows. A server refuses to serve a schema older or newer than its
//! own, and says which command fixes it, instead of failing later on the
//! first statement with a driver error nobody connects to migrations.
//!
//! A ledger made before its tables took the `inkan_` prefix keeps its
//! history in SeaORM's default `seaql_migrations`; it reads as behind, and
//! `inkan migrate` upgrades it in place.

use std::fmt;

use inkan_migrations::{LEGACY_MIGRATIONS_TABLE, MIGRATIONS_TABLE};
use sea_orm::{ConnectionTrait, DbErr, Statement};

use super::{Ledger, LedgerError};

/// How the database's schema compares with this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this build knows is applied, and no other.
    Current {
        /// How many migrations are applied.
        migrations: usize,
    },
    /// No inkan schema at all; what the database said when asked.
    Missing {
        /// The database's error on reading the migrations table.
        cause: String,
    },
    /// Migrations of this build not yet applied.
    Behind {
        /// Their names, oldest first.
        pending: Vec<String>,
    },
    /// Migrations applied that this build does not know: a newer inkan
    /// migrated this database.
    Ahead {
        /// Their names, oldest first.
        unknown: Vec<String>,
    },
}

impl SchemaState {
    /// Whether a server of this build may serve this schema.
    pub fn is_current(&self) -> bool {
        matches!(self, SchemaState::Current { .. })
    }
}

impl fmt::Display for SchemaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaState::Current { migrations } => {
                write!(f, "schema is current ({migrations} migrations applied)")
            }
            SchemaState::Missing { cause } => write!(
                f,
                "the database holds no inkan schema ({cause}); run `inkan migrate` (or the migration Job) first"
            ),
            SchemaState::Behind { pending } => write!(
                f,
                "the schema is older than this inkan ({} migrations pending: {}); run `inkan migrate` (or the migration Job) first",
                pending.len(),
                pending.join(", ")
            ),
            SchemaState::Ahead { unknown } => write!(
                f,
                "the schema is newer than this inkan understands (applied migrations it does not know: {}); \
                 run the inkan version that migrated it, or newer",
                unknown.join(", ")
            ),
        }
    }
}

/// Compares applied migration names with known ones, oldest first.
fn compare(applied: &[String], known: &[String]) -> SchemaState {
    let unknown: Vec<String> = applied
        .iter()
        .filter(|name| !known.contains(name))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return SchemaState::Ahead { unknown };
    }
    let pending: Vec<String> = known
        .iter()
        .filter(|name| !applied.contains(name))
        .cloned()
        .collect();
    if pending.is_empty() {
        SchemaState::Current {
            migrations: known.len(),
        }
    } else {
        SchemaState::Behind { pending }
    }
}

impl Ledger {
    /// How the database's schema compares with this build's migrations.
    /// Reads only; never creates the migrations table.
    pub async fn schema_state(&self) -> Result<SchemaState, LedgerError> {
        use inkan_migrations::{Migrator, MigratorTrait};

        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let applied = match self.applied(MIGRATIONS_TABLE).await {
            Ok(applied) => applied,
            Err(err) => {
                // The connection was already proven by `ping`; a failing
                // read of the migrations table means it is not there (or
                // not readable), and the driver's words say which.
                self.ping().await?;
                let unprefixed = self.unprefixed_history(&known).await;
                if !unprefixed.is_empty() {
                    return Ok(compare(&unprefixed, &known));
                }
                return Ok(SchemaState::Missing {
                    cause: err.to_string(),
                });
            }
        };
        Ok(compare(&applied, &known))
    }

    /// The migrations `table` records as applied, oldest first.
    async fn applied(&self, table: &str) -> Result<Vec<String>, DbErr> {
        let query = Statement::from_string(
            self.backend(),
            format!("SELECT version FROM {table} ORDER BY version"),
        );
        self.db
            .query_all(query)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "version"))
            .collect()
    }

    /// Inkan's migrations recorded in `seaql_migrations` by a ledger of the
    /// unprefixed layout; empty when there is no such table, or it holds
    /// only another program's migrations.
    pub(super) async fn unprefixed_history(&self, known: &[String]) -> Vec<String> {
        let mut applied = self
            .applied(LEGACY_MIGRATIONS_TABLE)
            .await
            .unwrap_or_default();
        applied.retain(|name| known.contains(name));
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn applied_and_known_migrations_are_compared_both_ways() {
        let known = names(&["m1", "m2"]);
        assert_eq!(
            compare(&names(&["m1", "m2"]), &known),
            SchemaState::Current { migrations: 2 }
        );
        assert_eq!(
            compare(&names(&["m1"]), &known),
            SchemaState::Behind {
                pending: names(&["m2"])
            }
        );
        assert_eq!(
            compare(&names(&["m1", "m2", "m3"]), &known),
            SchemaState::Ahead {
                unknown: names(&["m3"])
            }
        );
        let behind = compare(&[], &known).to_string();
        assert!(behind.contains("run `inkan migrate`"), "{behind}");
    }
}
