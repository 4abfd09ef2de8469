//! SQLite's leases, kept in memory: which deliveries a worker has, until when.
//!
//! A SQLite file is one process's, so its leases need not be written: a lease
//! reads due deliveries on a reader connection, beside the one writer, and notes
//! them here. Written, every lease was an `UPDATE` that queued behind the writer's
//! commits while the workers ran out of deliveries (a third of the writer's work,
//! and the cores stood idle meanwhile). After a crash the leases are gone with the
//! process, and what they held is due at once.
//!
//! A read skips the leased deliveries by their row numbers (`rowid`), which the
//! due index holds: it reads no row it skips.
//!
//! One race is left to close: a read that started before a recording committed
//! may still find the recorded deliveries pending. Each read is numbered, and the
//! deliveries recorded while reads are under way are kept as *retired* until the
//! reads that started before them have ended; a read takes none of those.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

/// The leases of one store's file, shared by its clones.
#[derive(Debug, Default)]
pub(super) struct Leases {
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    /// Leased deliveries, by id.
    leased: HashMap<Uuid, Lease>,
    /// The number the next read gets.
    next_read: u64,
    /// Reads under way, by number.
    reading: BTreeMap<u64, usize>,
    /// Deliveries recorded (or dropped) while reads were under way, with the
    /// number of the first read that started after: reads numbered below it may
    /// have found them pending.
    retired: VecDeque<(u64, Vec<Uuid>)>,
}

/// A delivery's lease.
#[derive(Debug, Clone, Copy)]
struct Lease {
    /// The delivery's row number.
    row: i64,
    /// When the lease ends (milliseconds).
    until: i64,
}

impl Leases {
    fn book(&self) -> MutexGuard<'_, Book> {
        // Every change to the book is whole before anything can panic.
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a read of due deliveries at `now`: returns it, and the rows of the
    /// deliveries leased now, which it should skip. Leases that ended are
    /// forgotten.
    pub(super) fn start_read(&self, now: i64) -> (Read<'_>, Vec<i64>) {
        let mut book = self.book();
        book.leased.retain(|_, lease| lease.until > now);
        let number = book.next_read;
        book.next_read += 1;
        *book.reading.entry(number).or_default() += 1;
        let leased = book.leased.values().map(|lease| lease.row).collect();
        (
            Read {
                leases: self,
                number,
            },
            leased,
        )
    }

    /// Deliveries recorded, or held or deleted, just now (after their commit):
    /// their leases end, and reads under way take none of them.
    pub(super) fn retire(&self, ids: Vec<Uuid>) {
        if ids.is_empty() {
            return;
        }
        let mut book = self.book();
        for id in &ids {
            book.leased.remove(id);
        }
        if !book.reading.is_empty() {
            let after = book.next_read;
            book.retired.push_back((after, ids));
        }
    }

    /// Deliveries given back: due again at once.
    pub(super) fn release(&self, ids: &[Uuid]) {
        let mut book = self.book();
        for id in ids {
            book.leased.remove(id);
        }
    }

    /// The rows of the deliveries leased at `now`.
    pub(super) fn leased(&self, now: i64) -> Vec<i64> {
        let book = self.book();
        book.leased
            .values()
            .filter(|lease| lease.until > now)
            .map(|lease| lease.row)
            .collect()
    }
}

/// A read of due deliveries under way; it ends when dropped.
pub(super) struct Read<'a> {
    leases: &'a Leases,
    number: u64,
}

impl Read<'_> {
    /// Leases what the read found, until `until`: all but those that another
    /// read leased meanwhile, or that were retired since this read started.
    /// `key` gives a delivery's id and row number. Returns what it leased, in
    /// the order found.
    pub(super) fn lease<T>(
        self,
        found: Vec<T>,
        key: impl Fn(&T) -> (Uuid, i64),
        now: i64,
        until: i64,
    ) -> Vec<T> {
        let mut book = self.leases.book();
        let mut taken = Vec::with_capacity(found.len());
        for delivery in found {
            let (id, row) = key(&delivery);
            let leased = book.leased.get(&id).is_some_and(|lease| lease.until > now);
            let retired = book
                .retired
                .iter()
                .any(|(after, ids)| *after > self.number && ids.contains(&id));
            if !leased && !retired {
                book.leased.insert(id, Lease { row, until });
                taken.push(delivery);
            }
        }
        taken
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        let mut book = self.leases.book();
        if let Some(count) = book.reading.get_mut(&self.number) {
            *count -= 1;
            if *count == 0 {
                book.reading.remove(&self.number);
            }
        }
        // Retired deliveries matter to the reads that started before them.
        let oldest = book.reading.keys().next().copied().unwrap_or(u64::MAX);
        while book
            .retired
            .front()
            .is_some_and(|(after, _)| *after <= oldest)
        {
            book.retired.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deliveries: an id and a row number each.
    fn deliveries(n: i64) -> Vec<(Uuid, i64)> {
        (0..n).map(|row| (Uuid::now_v7(), row + 1)).collect()
    }

    fn lease(leases: &Leases, found: &[(Uuid, i64)], now: i64, until: i64) -> Vec<(Uuid, i64)> {
        let (read, _) = leases.start_read(now);
        read.lease(found.to_vec(), |d| *d, now, until)
    }

    fn rows(of: &[(Uuid, i64)]) -> Vec<i64> {
        of.iter().map(|(_, row)| *row).collect()
    }

    #[test]
    fn a_read_skips_what_is_leased_until_the_lease_ends() {
        let leases = Leases::default();
        let d = deliveries(2);
        assert_eq!(lease(&leases, &d[..1], 0, 100), d[..1]);
        let (read, leased) = leases.start_read(50);
        assert_eq!(leased, rows(&d[..1]));
        // Found anyway (by a read that started before the lease), it is not taken.
        assert_eq!(read.lease(d.clone(), |d| *d, 50, 150), d[1..]);
        let (_, leased) = leases.start_read(100);
        assert_eq!(leased, rows(&d[1..]), "the first lease ended at 100");
        let (_, leased) = leases.start_read(150);
        assert!(leased.is_empty());
        assert_eq!(lease(&leases, &d, 150, 200), d);
    }

    #[test]
    fn a_delivery_recorded_during_a_read_is_not_leased_by_it() {
        let leases = Leases::default();
        let d = deliveries(1);
        assert_eq!(lease(&leases, &d, 0, 100), d);
        // A read starts while the delivery is leased; say its snapshot is older
        // than the recording below, so that it finds the delivery pending.
        let (stale, _) = leases.start_read(10);
        leases.retire(vec![d[0].0]);
        assert!(stale.lease(d.clone(), |d| *d, 10, 110).is_empty());
        // A read that started after the recording sees the file as recorded: what
        // it finds, it takes.
        assert_eq!(lease(&leases, &d, 20, 120), d);
    }

    #[test]
    fn retired_deliveries_are_forgotten_once_the_reads_before_them_end() {
        let leases = Leases::default();
        let d = deliveries(1);
        let (first, _) = leases.start_read(0);
        leases.retire(vec![d[0].0]);
        let (second, _) = leases.start_read(0);
        assert_eq!(leases.book().retired.len(), 1);
        drop(first);
        assert!(leases.book().retired.is_empty());
        assert_eq!(second.lease(d.clone(), |d| *d, 0, 100), d);
        drop(leases.start_read(0));
        assert!(leases.book().reading.is_empty());
    }

    #[test]
    fn a_released_delivery_is_leased_again_at_once() {
        let leases = Leases::default();
        let d = deliveries(1);
        assert_eq!(lease(&leases, &d, 0, 100), d);
        leases.release(&[d[0].0]);
        assert!(leases.leased(0).is_empty());
        assert_eq!(lease(&leases, &d, 0, 100), d);
        assert_eq!(leases.leased(99), rows(&d));
        assert!(leases.leased(100).is_empty());
    }
}
