//! Which schema the ledger's database holds, against the migrations this
//! build knows. A server refuses to serve a schema older or newer than its
//! own, and says which command fixes it, instead of failing later on the
//! first statement with a driver error nobody connects to migrations.

use std::fmt;

use sea_orm::{ConnectionTrait, Statement};

use super::{Ledger, LedgerError};

/// The migrations table SeaORM's migrator keeps.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

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
        let backend = self.db.get_database_backend();
        let query = Statement::from_string(
            backend,
            format!("SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version"),
        );
        let rows = match self.db.query_all(query).await {
            Ok(rows) => rows,
            Err(err) => {
                // The connection was already proven by `ping`; a failing
                // read of the migrations table means it is not there (or
                // not readable), and the driver's words say which.
                self.ping().await?;
                return Ok(SchemaState::Missing {
                    cause: err.to_string(),
                });
            }
        };
        let applied = rows
            .iter()
            .map(|row| row.try_get::<String>("", "version"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(compare(&applied, &known))
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
