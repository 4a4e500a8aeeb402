//! User and organisation rows and the audit trail on Postgres (the [`UserStore`] and the
//! [`AuditLog`]): the statements are the SQLite backend's too
//! ([`crate::users::sql_user_store`]); `detail` is `jsonb`, read back as text.
//!
//! [`UserStore`]: artgen_core::ports::UserStore
//! [`AuditLog`]: artgen_core::ports::AuditLog

crate::users::sql_user_store!(
    super::PostgresStore,
    sqlx::Postgres,
    sqlx::postgres::PgArguments,
    crate::users::numbered,
    "jsonb"
);
