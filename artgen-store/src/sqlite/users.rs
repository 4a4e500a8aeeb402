//! User and organisation rows and the audit trail on SQLite (the [`UserStore`] and the
//! [`AuditLog`]): the statements are the Postgres backend's too
//! ([`crate::users::sql_user_store`]).
//!
//! [`UserStore`]: artgen_core::ports::UserStore
//! [`AuditLog`]: artgen_core::ports::AuditLog

crate::users::sql_user_store!(
    super::SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteArguments<'q>,
    crate::users::question_marks,
    "TEXT"
);
