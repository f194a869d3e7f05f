//! The small runtime every controller shares, shaped like kube-rs' runtime:
//! informers (list + watch into a read-only cache), a keyed work queue with
//! per-key back-off, and a runner that calls a level-triggered
//! `reconcile(key) -> Action` from a few workers.
//!
//! A controller builds its informers (their handlers map changes to keys and
//! add them to the queue), then its reconciler over the informers' caches, and
//! hands both to [`Controller::run`].

mod informer;
mod queue;

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

pub use informer::{cache_key, Cache, Change, Informer, InformerConfig, SharedInformers};
pub use queue::{QueueConfig, WorkQueue};

/// What to do with a key after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until something changes.
    Done,
    /// Look again after this long (also when nothing changes).
    RequeueAfter(Duration),
}

/// A level-triggered reconciler: given a key, read the world (from caches and
/// the API), make the smallest write that moves it toward the desired state,
/// and say when to look again. Errors are retried with the key's back-off.
pub trait Reconciler: Send + Sync + 'static {
    /// What the queue holds (usually a namespace/name).
    type Key: Clone + Eq + Hash + Debug + Send + Sync + 'static;

    /// Brings one key toward its desired state.
    fn reconcile(&self, key: &Self::Key) -> impl Future<Output = anyhow::Result<Action>> + Send;
}

/// Waits until `shutdown` turns true (or its sender is gone).
pub async fn wait_shutdown(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Keys to enqueue on every periodic resync.
type ResyncKeys<K> = Box<dyn Fn() -> Vec<K> + Send + Sync>;

/// A reconciler with its queue, informers and workers.
pub struct Controller<R: Reconciler> {
    name: &'static str,
    reconciler: Arc<R>,
    queue: WorkQueue<R::Key>,
    informers: Vec<Informer>,
    workers: usize,
    resync: Option<(Duration, ResyncKeys<R::Key>)>,
}

impl<R: Reconciler> Controller<R> {
    /// A controller named `name` (for logs) with one worker.
    pub fn new(name: &'static str, reconciler: Arc<R>, queue: WorkQueue<R::Key>) -> Controller<R> {
        Controller {
            name,
            reconciler,
            queue,
            informers: Vec::new(),
            workers: 1,
            resync: None,
        }
    }

    /// Informers to run; workers start once all their caches are synced.
    pub fn informers(mut self, informers: Vec<Informer>) -> Controller<R> {
        self.informers.extend(informers);
        self
    }

    /// How many keys are reconciled at once (never the same key twice).
    pub fn workers(mut self, workers: usize) -> Controller<R> {
        self.workers = workers.max(1);
        self
    }

    /// Enqueues `keys()` every `period`, so that a dropped or missed key converges anyway.
    pub fn resync(mut self, period: Duration, keys: impl Fn() -> Vec<R::Key> + Send + Sync + 'static) -> Controller<R> {
        self.resync = Some((period, Box::new(keys)));
        self
    }

    /// Runs informers and workers until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let Controller {
            name,
            reconciler,
            queue,
            informers,
            workers,
            resync,
        } = self;
        // Dropping the set (on return or abort) stops the informers.
        let mut tasks = JoinSet::new();
        let caches: Vec<Cache> = informers.iter().map(Informer::cache).collect();
        for informer in informers {
            tasks.spawn(informer.run(shutdown.clone()));
        }
        let synced = async {
            for c in &caches {
                c.wait_synced().await;
            }
        };
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => return,
            _ = synced => debug!(controller = name, "caches synced"),
        }
        if let Some((period, keys)) = resync {
            let q = queue.clone();
            tasks.spawn(async move {
                let mut ticker = tokio::time::interval(period);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    for k in keys() {
                        q.add(k);
                    }
                }
            });
        }
        let all_workers =
            futures::future::join_all((0..workers).map(|_| work(name, reconciler.clone(), queue.clone())));
        tokio::select! {
            _ = all_workers => {}
            _ = wait_shutdown(&mut shutdown) => {}
        }
        queue.shutdown();
    }
}

/// One worker: takes keys from the queue until it shuts down.
async fn work<R: Reconciler>(name: &'static str, reconciler: Arc<R>, queue: WorkQueue<R::Key>) {
    while let Some(key) = queue.next().await {
        match reconciler.reconcile(&key).await {
            Ok(Action::Done) => queue.forget(&key),
            Ok(Action::RequeueAfter(after)) => {
                queue.forget(&key);
                queue.add_after(key.clone(), after);
            }
            Err(e) => {
                warn!(controller = name, key = ?key, failures = queue.failures(&key) + 1, error = format!("{e:#}"), "reconcile failed");
                queue.add_rate_limited(key.clone());
            }
        }
        queue.done(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Flaky {
        calls: AtomicU32,
    }

    impl Reconciler for Flaky {
        type Key = String;
        async fn reconcile(&self, _key: &String) -> anyhow::Result<Action> {
            // Fails twice, then asks to be looked at again later.
            match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => anyhow::bail!("not yet"),
                _ => Ok(Action::RequeueAfter(Duration::from_secs(3600))),
            }
        }
    }

    #[tokio::test]
    async fn failed_keys_are_retried_with_backoff_then_forgotten() {
        let queue = WorkQueue::new(QueueConfig {
            capacity: 10,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
        });
        let flaky = Arc::new(Flaky {
            calls: AtomicU32::new(0),
        });
        let (tx, rx) = watch::channel(false);
        queue.add("k".to_string());
        let task = tokio::spawn(
            Controller::new("flaky", flaky.clone(), queue.clone())
                .workers(2)
                .run(rx),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while flaky.calls.load(Ordering::SeqCst) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "retried in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(queue.failures(&"k".to_string()), 0);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3, "requeued an hour later, not now");
        tx.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
