//! A body stream that checks the bytes against the length and SHA-256 they were stored with.

use std::pin::Pin;
use std::task::{Context, Poll};

use artgen_core::domain::OutputFormat;
use artgen_core::ports::BlobRef;
use bytes::Bytes;
use futures_core::Stream;
use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// The reference `bytes` are stored under, whichever store keeps them: their SHA-256 in
/// lower-case hex, their length and their encoding.
pub(crate) fn blob_ref(format: OutputFormat, bytes: &[u8]) -> BlobRef {
    BlobRef {
        sha256: hex::encode(Sha256::digest(bytes)),
        len: bytes.len() as u64,
        format,
    }
}

/// Chunks from a backend, before checking.
pub(crate) type RawBody = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// Passes `inner`'s chunks on while hashing them; at the end, a length or hash that differs
/// from what was stored becomes a last error item instead of a clean end (the bytes already
/// passed cannot be taken back, so the consumer must treat the error as "discard all").
pub(crate) struct VerifiedBody {
    inner: RawBody,
    hasher: Sha256,
    seen: u64,
    len: u64,
    sha256: String,
    /// What the error names (a path or object key).
    name: String,
    done: bool,
}

impl VerifiedBody {
    /// Checks `inner` against `len` bytes hashing to `sha256` (lower-case hex).
    pub(crate) fn new(inner: RawBody, len: u64, sha256: String, name: String) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            seen: 0,
            len,
            sha256,
            name,
            done: false,
        }
    }

    fn mismatch(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            field: "image blob",
            reason: format!("{} {what}", self.name),
        }
    }
}

impl Stream for VerifiedBody {
    type Item = artgen_core::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        match next {
            Some(Ok(chunk)) => {
                self.seen = self.seen.saturating_add(chunk.len() as u64);
                if self.seen > self.len {
                    self.done = true;
                    let err = self.mismatch("is longer than stored");
                    return Poll::Ready(Some(Err(err.into())));
                }
                self.hasher.update(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(err)) => {
                self.done = true;
                Poll::Ready(Some(Err(err.into())))
            }
            None => {
                self.done = true;
                let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
                if self.seen != self.len {
                    let err = self.mismatch("is shorter than stored");
                    Poll::Ready(Some(Err(err.into())))
                } else if digest != self.sha256 {
                    let err = self.mismatch("does not match its hash");
                    Poll::Ready(Some(Err(err.into())))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> RawBody {
        let items: Vec<Result<Bytes, StoreError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn drain(mut body: VerifiedBody) -> Vec<artgen_core::Result<Bytes>> {
        let mut out = Vec::new();
        while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
            out.push(item);
        }
        out
    }

    #[tokio::test]
    async fn passes_matching_bytes_and_ends_cleanly() {
        let sha = hex::encode(Sha256::digest(b"hello world"));
        let items = drain(VerifiedBody::new(
            body(&[&b"hello "[..], &b"world"[..]]),
            11,
            sha,
            "x".into(),
        ))
        .await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn ends_with_an_error_when_the_bytes_differ_or_are_cut_short_or_run_long() {
        let sha = hex::encode(Sha256::digest(b"hello world"));
        for (chunks, len) in [
            (&[&b"hello "[..], &b"w0rld"[..]][..], 11),
            (&[&b"hello"[..]][..], 11),
            (&[&b"hello world!"[..]][..], 11),
        ] {
            let items = drain(VerifiedBody::new(
                body(chunks),
                len,
                sha.clone(),
                "x".into(),
            ))
            .await;
            let last = items.last().expect("an item");
            assert!(last.is_err(), "{chunks:?}");
        }
    }
}
