//! Retention on both SQL backends: prompts of old usage rows are emptied in short batches, so
//! a purge never holds the database's write lock for long (on SQLite the request path's writer
//! waits behind it). The statement is the same on both (keyed by `request_id` and
//! `created_at_ms`, which also lets Postgres skip the partitions after the cutoff).

/// Rows changed per statement.
pub(crate) const PURGE_BATCH: i64 = 1000;

/// `forget_old_prompts` for a SQL store: `sql_retention!(Store, Database)`.
macro_rules! sql_retention {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Empties the prompts of rows created before `before_ms`, a batch per
            /// statement; how many rows changed.
            pub(super) async fn forget_old_prompts(
                &self,
                before_ms: i64,
            ) -> Result<u64, crate::error::StoreError> {
                let mut changed = 0;
                loop {
                    let mut sql = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE usage SET prompt = '' WHERE created_at_ms < ",
                    );
                    sql.push_bind(before_ms)
                        .push(
                            " AND request_id IN (SELECT request_id FROM usage \
                             WHERE created_at_ms < ",
                        )
                        .push_bind(before_ms)
                        .push(" AND prompt <> '' LIMIT ")
                        .push_bind(crate::retention::PURGE_BATCH)
                        .push(")");
                    let done = sql.build().execute(&self.pool).await?.rows_affected();
                    changed += done;
                    if done == 0 {
                        return Ok(changed);
                    }
                }
            }
        }
    };
}

pub(crate) use sql_retention;
