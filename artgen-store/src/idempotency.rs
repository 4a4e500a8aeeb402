//! What the idempotency adapters share: the stored row and what a claim that finds it answers.

use artgen_core::ports::{Begin, StoredResponse};

use crate::error::StoreError;

/// A live `idempotency` row as either backend returns it (Postgres casts `status` to `int8`).
#[derive(sqlx::FromRow)]
pub(crate) struct LiveRow {
    fingerprint: Vec<u8>,
    state: String,
    status: Option<i64>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    /// JSON list of [`StoredImage`](artgen_core::ports::StoredImage)s, `NULL` for none.
    images: Option<String>,
    completed_at_ms: Option<i64>,
}

fn corrupt(field: &'static str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        field,
        reason: reason.to_owned(),
    }
}

impl LiveRow {
    /// What a claim that found this row answers, for a request with `fingerprint`.
    pub(crate) fn into_begin(self, fingerprint: &[u8; 32]) -> Result<Begin, StoreError> {
        if self.fingerprint != fingerprint {
            return Ok(Begin::Mismatch);
        }
        match self.state.as_str() {
            "in_progress" => Ok(Begin::InProgress),
            "done" => {
                let status = self.status.ok_or_else(|| corrupt("status", "missing"))?;
                Ok(Begin::Replay(StoredResponse {
                    status: u16::try_from(status)
                        .map_err(|_| corrupt("status", "does not fit u16"))?,
                    content_type: self
                        .content_type
                        .ok_or_else(|| corrupt("content_type", "missing"))?,
                    body: self.body.ok_or_else(|| corrupt("body", "missing"))?,
                    images: match self.images {
                        Some(json) => serde_json::from_str(&json)
                            .map_err(|e| corrupt("images", &e.to_string()))?,
                        None => Vec::new(),
                    },
                    created_at_ms: self
                        .completed_at_ms
                        .ok_or_else(|| corrupt("completed_at_ms", "missing"))?,
                }))
            }
            other => Err(StoreError::Corrupt {
                field: "state",
                reason: format!("unknown value {other:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done_row(fingerprint: [u8; 32]) -> LiveRow {
        LiveRow {
            fingerprint: fingerprint.to_vec(),
            state: "done".to_owned(),
            status: Some(201),
            content_type: Some("application/json".to_owned()),
            body: Some(b"{}".to_vec()),
            images: None,
            completed_at_ms: Some(7),
        }
    }

    #[test]
    fn a_done_row_becomes_a_replay_and_a_foreign_fingerprint_a_mismatch() {
        let replay = done_row([1; 32]).into_begin(&[1; 32]).expect("valid row");
        let mismatch = done_row([1; 32]).into_begin(&[2; 32]).expect("valid row");

        assert_eq!(
            replay,
            Begin::Replay(StoredResponse {
                status: 201,
                content_type: "application/json".to_owned(),
                body: b"{}".to_vec(),
                images: Vec::new(),
                created_at_ms: 7,
            })
        );
        assert_eq!(mismatch, Begin::Mismatch);
    }

    #[test]
    fn corrupt_rows_are_refused_without_panicking() {
        let mut unknown_state = done_row([1; 32]);
        unknown_state.state = "paused".to_owned();
        let mut missing_body = done_row([1; 32]);
        missing_body.body = None;
        let mut huge_status = done_row([1; 32]);
        huge_status.status = Some(70_000);
        let mut bad_images = done_row([1; 32]);
        bad_images.images = Some("[{\"offset\": -1}]".to_owned());

        for row in [unknown_state, missing_body, huge_status, bad_images] {
            assert!(row.into_begin(&[1; 32]).is_err());
        }
    }
}
