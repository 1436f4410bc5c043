//! Revisions: the number by which every store keeps the newest row of a
//! window, and the fence that keeps a partition's earlier owner out.
//!
//! A task's rows carry `epoch · 2²¹ + n`: its *epoch*, fixed when it is
//! assigned the partition, then the emission count. Each new owner of a
//! partition takes an epoch above the one in the partition's changelog
//! (and at least the milliseconds since 2025, so a restart without a
//! changelog, e.g. `lap run` into an existing lake, still ranks above
//! earlier runs) and makes it durable before its first row. So once the
//! new owner has written a row, nothing the old owner still emits for that
//! row can replace it: an instance that lost its partitions without
//! noticing (a missed session timeout) is fenced by the stores' revision guard.
//!
//! `lap backfill` writes above every stream revision (2⁶² + its start
//! time in µs), so a recomputation stands until a later one replaces it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the emission count below the epoch.
const SEQ_BITS: u32 = 21;

/// 2025-01-01T00:00:00Z in ms since the Unix epoch: where epochs count from.
const EPOCH_BASE_MS: i64 = 1_735_689_600_000;

/// The lowest revision of a batch recomputation.
pub const BATCH_BASE: i64 = 1 << 62;

/// The epoch a task taking a partition now uses, given the highest epoch
/// its changelog holds.
pub fn next_epoch(restored: i64, now_ms: i64) -> i64 {
    (restored + 1).max(now_ms - EPOCH_BASE_MS)
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Hands out growing revisions.
#[derive(Clone, Copy, Debug)]
pub enum Revisions {
    /// A stream task's: epoch and emissions so far.
    Stream {
        /// The task's epoch.
        epoch: i64,
        /// Emissions so far in this epoch.
        seq: i64,
    },
    /// A batch recomputation's: above every stream revision.
    Batch {
        /// Revisions so far, from `BATCH_BASE + start µs`.
        next: i64,
    },
}

impl Revisions {
    /// Revisions of a task in `epoch`.
    pub fn stream(epoch: i64) -> Revisions {
        Revisions::Stream { epoch, seq: 0 }
    }

    /// Revisions of a batch run started at `now_us`.
    pub fn batch(now_us: i64) -> Revisions {
        Revisions::Batch {
            next: BATCH_BASE + now_us.max(0),
        }
    }

    /// The epoch of a stream task (0 for a batch).
    pub fn epoch(&self) -> i64 {
        match self {
            Revisions::Stream { epoch, .. } => *epoch,
            Revisions::Batch { .. } => 0,
        }
    }

    /// The next revision.
    pub fn take(&mut self) -> i64 {
        match self {
            Revisions::Stream { epoch, seq } => {
                *seq += 1;
                if *seq >= 1 << SEQ_BITS {
                    // Two million emissions in one epoch: move to the next,
                    // which no later owner can reach without passing it
                    // (they start at least one epoch per millisecond on).
                    *epoch += 1;
                    *seq = 1;
                }
                (*epoch << SEQ_BITS) | *seq
            }
            Revisions::Batch { next } => {
                *next += 1;
                *next
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_owner_always_ranks_above_an_earlier_one() {
        let now = EPOCH_BASE_MS + 5_000;
        let first = next_epoch(0, now);
        let mut old = Revisions::stream(first);
        let old_rows: Vec<i64> = (0..1000).map(|_| old.take()).collect();
        // The next owner restores `first` and starts even if its clock is behind.
        let mut new = Revisions::stream(next_epoch(first, now - 60_000));
        let new_row = new.take();
        assert!(old_rows.iter().all(|r| *r < new_row));
        assert!(new_row < BATCH_BASE);
        assert!(Revisions::batch(1_800_000_000_000_000).take() > new_row);
    }

    #[test]
    fn revisions_grow_across_an_epoch_overflow() {
        let mut r = Revisions::Stream {
            epoch: 7,
            seq: (1 << SEQ_BITS) - 2,
        };
        let (a, b, c) = (r.take(), r.take(), r.take());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(r.epoch(), 8);
    }
}
