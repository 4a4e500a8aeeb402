//! How many success answers are read, decoded and held at once
//! ([`OpenAiConfig::max_concurrent_reads`](crate::OpenAiConfig::max_concurrent_reads)).
//!
//! A large answer is megabytes of base64 that become megabytes of image, and answers that were
//! waiting on the upstream together tend to land together: a thousand of them decoded at once
//! would take gigabytes. So an answer takes a slot once its headers are in, before its body is
//! read; the rest wait with their bodies unread in the socket. The slot travels with the
//! decoded images ([`Slot::keep`]): it is given back when the last copy of them is dropped,
//! i.e. once the caller has stored and answered them, not when decoding ends and a pile of
//! decoded images could still wait on a slow disk.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one provider.
#[derive(Debug, Clone)]
pub(crate) struct ReadSlots(Arc<Semaphore>);

impl ReadSlots {
    /// `slots` answers at once (at least one).
    pub(crate) fn new(slots: usize) -> Self {
        Self(Arc::new(Semaphore::new(
            slots.clamp(1, Semaphore::MAX_PERMITS),
        )))
    }

    /// Waits for a slot.
    pub(crate) async fn acquire(&self) -> Slot {
        // The semaphore is never closed, so this only fails in theory; the answer is then read
        // without a slot rather than refused.
        Slot(self.0.clone().acquire_owned().await.ok().map(Arc::new))
    }

    /// Slots free right now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// A taken slot; none for answers read outside the bound (streams).
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot(Option<Arc<OwnedSemaphorePermit>>);

impl Slot {
    /// `bytes` as [`Bytes`] that hold this slot until their last clone is dropped.
    pub(crate) fn keep(&self, bytes: Vec<u8>) -> Bytes {
        match &self.0 {
            Some(permit) => Bytes::from_owner(Held {
                bytes,
                _slot: permit.clone(),
            }),
            None => Bytes::from(bytes),
        }
    }
}

/// Decoded image bytes and the slot they hold.
struct Held {
    bytes: Vec<u8>,
    _slot: Arc<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_is_given_back_when_the_last_image_of_its_answer_is_dropped() {
        let slots = ReadSlots::new(2);

        let slot = slots.acquire().await;
        let first = slot.keep(vec![1, 2, 3]);
        let second = slot.keep(vec![4]);
        let shared = first.clone();
        drop(slot);

        assert_eq!(slots.available(), 1);
        assert_eq!(&shared[..], &[1, 2, 3]);
        drop((first, second));
        assert_eq!(slots.available(), 1, "a clone still holds the slot");
        drop(shared);
        assert_eq!(slots.available(), 2);
    }

    #[tokio::test]
    async fn answers_beyond_the_slots_wait_for_one_to_be_given_back() {
        let slots = ReadSlots::new(1);
        let held = slots.acquire().await.keep(vec![0; 8]);

        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), slots.acquire());
        assert!(waiting.await.is_err(), "the only slot is taken");

        drop(held);
        let again = tokio::time::timeout(std::time::Duration::from_secs(5), slots.acquire());
        assert!(again.await.is_ok());
    }

    #[test]
    fn bytes_without_a_slot_are_plain() {
        let bytes = Slot::default().keep(vec![9]);

        assert_eq!(&bytes[..], &[9]);
    }
}
