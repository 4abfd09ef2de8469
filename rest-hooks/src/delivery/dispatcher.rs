//! The dispatcher: leases due deliveries whenever its workers run short of them,
//! hands them to a fixed pool of workers that attempt one at a time each, and on
//! stopping gives back what it could not finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use uuid::Uuid;

use super::engine::{Done, Engine, LINGER, Stop};
use super::lock;
use crate::backoff::Backoff;
use crate::queue::Outgoing;

/// A leased delivery, and when its lease ends.
type Leased = (Outgoing, Instant);

/// What the dispatcher and its workers share.
struct Pool {
    /// Leased deliveries waiting for a worker. The dispatcher tops it up when it
    /// falls to `low_water`, to `batch` at most, so that leases come in batches
    /// rather than one at a time and nothing waits in it for longer than a round
    /// of attempts.
    waiting: flume::Receiver<Leased>,
    low_water: usize,
    /// Told when a worker leaves `low_water` or fewer waiting, and when the last
    /// busy worker finishes: time to lease.
    running_low: Notify,
    /// The delivery each worker has taken and not yet handed to the recorder.
    taken: Vec<Mutex<Option<Uuid>>>,
    /// How many workers have a delivery.
    busy: AtomicUsize,
}

impl Pool {
    fn take(&self, worker: usize, id: Uuid) {
        *lock(&self.taken[worker]) = Some(id);
        self.busy.fetch_add(1, Ordering::Relaxed);
        if self.waiting.len() <= self.low_water {
            self.running_low.notify_one();
        }
    }

    fn finish(&self, worker: usize) {
        *lock(&self.taken[worker]) = None;
        if self.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.running_low.notify_one();
        }
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0 || !self.waiting.is_empty()
    }
}

impl Engine {
    /// Leases deliveries for a pool of `concurrency` workers until stopped; then
    /// lets the attempts under way finish until the deadline and gives back what
    /// is left.
    pub(super) async fn dispatch(self: Arc<Self>, mut stop: Stop, done: mpsc::Sender<Done>) {
        let workers_count = self.config.concurrency.max(1);
        let batch = self.config.batch.max(1);
        // Unbounded, but never holding more than `batch`: only this loop sends,
        // and only what brings it up to `batch`.
        let (queue, waiting) = flume::unbounded();
        let pool = Arc::new(Pool {
            waiting,
            low_water: batch / 2,
            running_low: Notify::new(),
            taken: (0..workers_count).map(|_| Mutex::new(None)).collect(),
            busy: AtomicUsize::new(0),
        });
        let mut workers = Workers::default();
        for worker in 0..workers_count {
            workers.start(&self, &pool, worker, &stop, &done);
        }

        // A store that fails (a lost database, say) is asked again after waits that
        // grow, whatever wakes the engine meanwhile.
        let mut backoff = Backoff::new(Duration::from_secs(30));
        // When the last lease found fewer due deliveries than it asked for.
        let mut drained_at: Option<Instant> = None;
        while stop.borrow().is_none() {
            let held_until = drained_at
                .map(|at| at + LINGER)
                .filter(|until| pool.is_busy() && *until > Instant::now());
            let mut leased_some = false;
            let mut store_failed = None;
            if pool.waiting.len() <= pool.low_water && held_until.is_none() {
                let lease_ends = Instant::now() + self.config.lease;
                let wanted = batch - pool.waiting.len();
                match self.store.lease(wanted, self.config.lease).await {
                    Ok(leased) => {
                        backoff.reset();
                        leased_some = !leased.is_empty();
                        drained_at = (leased.len() < wanted).then(Instant::now);
                        for outgoing in leased {
                            // The pool holds a receiver, so this cannot fail; if it
                            // did, the lease would expire and the delivery be due again.
                            let _ = queue.send((outgoing, lease_ends));
                        }
                    }
                    Err(error) => {
                        let wait = backoff.next_wait();
                        tracing::warn!(%error, ?wait, "could not lease deliveries");
                        store_failed = Some(wait);
                    }
                }
            }
            if let Some(wait) = store_failed {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = stop.changed() => if changed.is_err() { break },
                }
                continue;
            }
            if leased_some && pool.waiting.len() <= pool.low_water && drained_at.is_none() {
                // More may be due at once.
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(held_until.unwrap_or_else(Instant::now)), if held_until.is_some() => {}
                () = self.wake.notified() => {}
                () = pool.running_low.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                Some(ended) = workers.tasks.join_next_with_id() => {
                    // Only a panic ends a worker before the queue closes: its
                    // delivery's lease expires, and a new worker takes its place.
                    let worker = workers.ended(&pool, ended);
                    workers.start(&self, &pool, worker, &stop, &done);
                }
                changed = stop.changed() => if changed.is_err() { break },
            }
        }

        // Stopping: what waits for a worker goes back; closing the queue ends
        // each worker after its attempt, which may finish until the deadline.
        let mut abandoned: Vec<Uuid> = pool
            .waiting
            .drain()
            .map(|(outgoing, _)| outgoing.delivery.id)
            .collect();
        drop(queue);
        let deadline = stop.borrow().unwrap_or_else(Instant::now);
        while !workers.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, workers.tasks.join_next_with_id()).await {
                Ok(Some(ended)) => {
                    workers.ended(&pool, ended);
                }
                Ok(None) => break,
                Err(_) => {
                    workers.tasks.abort_all();
                    while let Some(ended) = workers.tasks.join_next_with_id().await {
                        workers.ended(&pool, ended);
                    }
                }
            }
        }
        // What was abandoned or never started goes back to the queue, due at once
        // for the next start.
        abandoned.extend(pool.taken.iter().filter_map(|taken| lock(taken).take()));
        if let Err(error) = self.store.release(&abandoned).await {
            tracing::warn!(%error, "could not give back abandoned deliveries; their leases will expire");
        }
    }

    /// One worker: attempts the deliveries it takes from the pool, one at a time,
    /// until the queue closes.
    async fn work(
        self: Arc<Self>,
        pool: Arc<Pool>,
        worker: usize,
        stop: Stop,
        done: mpsc::Sender<Done>,
    ) {
        while let Ok((outgoing, lease_ends)) = pool.waiting.recv_async().await {
            pool.take(worker, outgoing.delivery.id);
            // Taken as the engine stops: not started, and given back.
            if stop.borrow().is_some() {
                return;
            }
            self.attempt(outgoing, lease_ends, &done).await;
            pool.finish(worker);
        }
    }
}

/// The workers' tasks, and which worker each one runs.
#[derive(Default)]
struct Workers {
    tasks: JoinSet<()>,
    worker_of: HashMap<Id, usize>,
}

impl Workers {
    /// Starts worker number `worker` of the pool.
    fn start(
        &mut self,
        engine: &Arc<Engine>,
        pool: &Arc<Pool>,
        worker: usize,
        stop: &Stop,
        done: &mpsc::Sender<Done>,
    ) {
        let task = self.tasks.spawn(Arc::clone(engine).work(
            Arc::clone(pool),
            worker,
            stop.clone(),
            done.clone(),
        ));
        self.worker_of.insert(task.id(), worker);
    }

    /// The worker whose task ended. An aborted worker's delivery stays in
    /// `taken`, to be given back; a panicked one's is forgotten, and its lease
    /// expires.
    fn ended(&mut self, pool: &Pool, ended: Result<(Id, ()), tokio::task::JoinError>) -> usize {
        let (id, panicked) = match ended {
            Ok((id, ())) => (id, false),
            Err(error) => {
                if error.is_panic() {
                    tracing::error!(%error, "a delivery worker panicked");
                }
                (error.id(), error.is_panic())
            }
        };
        let worker = self.worker_of.remove(&id).unwrap_or_default();
        if panicked
            && let Some(taken) = pool.taken.get(worker)
            && lock(taken).take().is_some()
        {
            pool.busy.fetch_sub(1, Ordering::Relaxed);
        }
        worker
    }
}
