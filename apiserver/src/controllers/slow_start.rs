//! Kubernetes' `slowStartBatch`: call a function `count` times in batches
//! that double in size (1, 2, 4, …), the calls of one batch at once, and stop
//! at the first batch with a failure. A controller whose creates all fail
//! (quota, a bad template) so makes one request, not hundreds.

use std::future::Future;

/// The first batch's size (`controller.SlowStartInitialBatchSize`).
pub const INITIAL_BATCH_SIZE: usize = 1;

/// Calls `f` up to `count` times in doubling batches starting at `initial`;
/// returns how many calls succeeded and the first error, if a batch failed.
pub async fn slow_start_batch<E, F, Fut>(count: usize, initial: usize, mut f: F) -> (usize, Option<E>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (successes, first_error);
        }
        remaining -= batch;
        batch = remaining.min(2 * batch);
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Runs a slow start of `count` where call number `fail_from` and later fail;
    /// returns (successes, failed, calls made, batch sizes).
    fn run(count: usize, fail_from: Option<usize>) -> (usize, bool, usize, Vec<usize>) {
        let calls = AtomicUsize::new(0);
        let done = Arc::new(AtomicUsize::new(0));
        let batches = Mutex::new(Vec::<usize>::new());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (ok, err) = rt.block_on(slow_start_batch(count, INITIAL_BATCH_SIZE, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            // A batch's calls are all made before any of them completes: a call made
            // when every earlier one has completed starts a new batch.
            let mut b = batches.lock().unwrap();
            if done.load(Ordering::SeqCst) == n {
                b.push(0);
            }
            if let Some(last) = b.last_mut() {
                *last += 1;
            }
            let fail = fail_from.is_some_and(|f| n >= f);
            let done = done.clone();
            async move {
                done.fetch_add(1, Ordering::SeqCst);
                if fail {
                    Err("quota")
                } else {
                    Ok(())
                }
            }
        }));
        let b = batches.into_inner().unwrap();
        (ok, err.is_some(), calls.into_inner(), b)
    }

    #[test]
    fn batches_double_until_done() {
        assert_eq!(run(0, None), (0, false, 0, vec![]));
        assert_eq!(run(1, None), (1, false, 1, vec![1]));
        assert_eq!(run(10, None), (10, false, 10, vec![1, 2, 4, 3]));
        assert_eq!(run(100, None).3, vec![1, 2, 4, 8, 16, 32, 37]);
    }

    #[test]
    fn a_failing_batch_stops_the_rest() {
        // Everything fails: one call, not ten.
        assert_eq!(run(10, Some(0)), (0, true, 1, vec![1]));
        // The 5th call fails: the batch of 4 (calls 3..=6) completes, 3 of it succeed, then stop.
        assert_eq!(run(10, Some(4)), (4, true, 7, vec![1, 2, 4]));
    }
}
