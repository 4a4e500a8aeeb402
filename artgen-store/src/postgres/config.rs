//! Configuration of the Postgres store, and the redaction of database URLs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// A database URL. It may hold a password, so its `Debug` and `Display` show it redacted
/// (see [`redact_url`]); [`DatabaseUrl::expose`] gives the text to connect with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, password included: for connecting only, never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// `url` with the password of its user info and the value of a `password` parameter replaced
/// by `[redacted]`; the rest is kept, so an operator can still tell which database it is.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:[redacted]@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=[redacted]")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// How the Postgres store connects, and keeps usage writes while the database is unreachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: DatabaseUrl,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long taking a connection (connecting included) may take, milliseconds; a write that
    /// cannot get one in time counts as "database unreachable".
    pub acquire_timeout_ms: u64,
    /// The schema to work in (`search_path`); `None`: the server's default.
    pub schema: Option<String>,
    /// The spool file that keeps usage writes while the database is unreachable (`None`: no
    /// spool; a write then fails when the database is unreachable).
    pub spool_path: Option<PathBuf>,
    /// Usage writes the spool keeps at most (`0`: no spool). Room for the finish of every
    /// request in flight is reserved when it starts, so a full spool refuses new requests
    /// (`storage_unavailable`) before their upstream call.
    pub spool_max_records: usize,
    /// [`recover_unfinished`](artgen_core::ports::UsageStore::recover_unfinished) marks only
    /// rows started this long before the cut it is given, milliseconds: other replicas share
    /// the table, and a request of a live one may still be running that long.
    pub recover_after_ms: u64,
}

impl Default for PostgresConfig {
    /// 10 connections, 5 s to get one, no spool, recovery after 15 minutes.
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("postgres://localhost/artgen"),
            max_connections: 10,
            acquire_timeout_ms: 5_000,
            schema: None,
            spool_path: None,
            spool_max_records: 10_000,
            recover_after_ms: 15 * 60 * 1000,
        }
    }
}

impl PostgresConfig {
    /// A configuration for `url` with the defaults otherwise.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: DatabaseUrl::new(url),
            ..Self::default()
        }
    }

    /// Sets the pool's size.
    #[must_use]
    pub fn with_max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets how long taking a connection may take.
    #[must_use]
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Works in `schema` (tests give each run its own).
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Keeps usage writes in a spool file at `path` while the database is unreachable.
    #[must_use]
    pub fn with_spool(mut self, path: impl Into<PathBuf>) -> Self {
        self.spool_path = Some(path.into());
        self
    }

    /// Sets the spool's capacity in records (`0`: no spool).
    #[must_use]
    pub fn with_spool_max_records(mut self, records: usize) -> Self {
        self.spool_max_records = records;
        self
    }

    /// Sets how old a started row must be before recovery marks it unknown.
    #[must_use]
    pub fn with_recover_after(mut self, after: Duration) -> Self {
        self.recover_after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// How long taking a connection may take.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    /// Checks that the store can be opened with this configuration.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for a URL that is not `postgres://` or `postgresql://`,
    /// an empty pool, or a schema name that is not a plain identifier.
    pub fn validate(&self) -> Result<(), StoreError> {
        let url = self.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::InvalidConfig(format!(
                "database url {}: expected postgres://",
                self.url
            )));
        }
        if self.max_connections == 0 {
            return Err(StoreError::InvalidConfig(
                "postgres max_connections must be at least 1".to_owned(),
            ));
        }
        if let Some(schema) = &self.schema {
            let plain = !schema.is_empty()
                && schema.len() < 64
                && schema
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !plain {
                return Err(StoreError::InvalidConfig(format!(
                    "postgres schema {schema:?}: expected lowercase letters, digits and _"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/artgen?sslmode=require"),
            "postgres://app:[redacted]@db.internal:5432/artgen?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/artgen?user=app&password=s3cret"),
            "postgres://db/artgen?user=app&password=[redacted]"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("postgres://p@ss:w@rd@h/db"),
            "postgres://p@ss:[redacted]@h/db"
        );
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let config = PostgresConfig::new("mysql://app:s3cret@h/db");
        let err = config.validate().expect_err("not postgres");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        let ok = PostgresConfig::new("postgres://h/db").with_schema("artgen_t_1a2b");
        let bad = PostgresConfig::new("postgres://h/db").with_schema("x; DROP TABLE usage");
        assert!(ok.validate().is_ok());
        assert!(bad.validate().is_err());
    }
}
