//! Which database a host uses: `--database` (or `APPSTREAM_DATABASE`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{PostgresStore, SqliteStore, Store, postgres::DEFAULT_CONNECTIONS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// One host's own file (the default: `control-plane.sqlite3` in the
    /// data directory).
    Sqlite(PathBuf),
    /// A database a fleet of hosts shares.
    Postgres(String),
}

impl Database {
    /// `sqlite:PATH`, `postgres://...` or `postgresql://...`; None: SQLite in
    /// the data directory.
    pub fn parse(given: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let Some(url) = given else {
            return Ok(Database::Sqlite(
                data_dir.join(super::sqlite::DATABASE_FILE),
            ));
        };
        if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                bail!("--database sqlite:PATH needs a path");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        bail!("--database {url:?}: expected sqlite:PATH or postgres://USER@HOST/DATABASE")
    }

    /// Other hosts may use it at the same time: what one host left behind
    /// (its live sessions at a restart) is not all there is.
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    pub fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(
                SqliteStore::open_file(path)
                    .with_context(|| format!("opening the database {}", path.display()))?,
            ),
            Database::Postgres(url) => Arc::new(
                PostgresStore::connect(url, DEFAULT_CONNECTIONS)
                    .context("connecting to the PostgreSQL database")?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_or_say_what_is_expected() {
        let dir = Path::new("/data");
        assert_eq!(
            Database::parse(None, dir).unwrap(),
            Database::Sqlite(dir.join("control-plane.sqlite3"))
        );
        assert_eq!(
            Database::parse(Some("sqlite:/x/y.db"), dir).unwrap(),
            Database::Sqlite("/x/y.db".into())
        );
        let pg = Database::parse(Some("postgresql://h@db/fleet"), dir).unwrap();
        assert!(pg.is_shared());
        let error = Database::parse(Some("mysql://h@db/x"), dir).unwrap_err();
        assert!(
            error.to_string().contains("expected sqlite:PATH"),
            "{error}"
        );
        assert!(Database::parse(Some("sqlite:"), dir).is_err());
    }
}
