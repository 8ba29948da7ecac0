//! Reconcile slots: `--concurrency` passes run at once, admitted first come, first served
//! (tokio's semaphore is fair). A pass that has nothing to do but wait for Materialize (its
//! checks all retrying) gives its slot back for the wait ([`idle`]) and queues again behind the
//! passes that arrived meanwhile, so no pass holds a slot while Materialize catches up.
//!
//! The slot travels with the pass as a task-local, so code deep in a pass can give it back
//! without the pass's signature changing; outside a pass (the cluster-free tests, tools)
//! [`idle`] only waits.

use std::{cell::RefCell, future::Future, sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

struct Slot {
    semaphore: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

tokio::task_local! {
    static SLOT: RefCell<Slot>;
}

/// Runs the pass `pass` in a slot of `semaphore`, once one is free. Returns how long it
/// waited for it, and the pass's output; `None` if the semaphore was closed ([`close`]) before
/// a slot came free: the pass never ran.
pub async fn hold<F: Future>(semaphore: Arc<Semaphore>, pass: F) -> Option<(Duration, F::Output)> {
    let asked = tokio::time::Instant::now();
    let permit = acquire(&semaphore).await?;
    let waited = asked.elapsed();
    let slot = RefCell::new(Slot {
        semaphore,
        permit: Some(permit),
    });
    Some((waited, SLOT.scope(slot, pass).await))
}

/// The process is shutting down: passes still waiting for a slot give up at once (the
/// controller waits for every pass it started, queued ones included, so without this a
/// graceful stop under load waited for the whole queue). Passes under way finish.
pub fn close(semaphore: &Semaphore) {
    semaphore.close();
}

async fn acquire(semaphore: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    semaphore.clone().acquire_owned().await.ok()
}

/// Waits `d` without holding the pass's slot, then waits for a slot again. Only for a pass with
/// nothing else under way: whatever runs beside it would run without a slot.
pub async fn idle(d: Duration) {
    let released = SLOT
        .try_with(|s| {
            let mut s = s.borrow_mut();
            s.permit.take();
            s.semaphore.clone()
        })
        .ok();
    tokio::time::sleep(d).await;
    if let Some(semaphore) = released {
        // Closed meanwhile (shutting down): the pass finishes without a slot.
        let permit = acquire(&semaphore).await;
        SLOT.with(|s| s.borrow_mut().permit = permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_pass_gives_its_slot_to_the_next_and_queues_again() {
        let semaphore = Arc::new(Semaphore::new(1));
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let first = {
            let (semaphore, tx) = (semaphore.clone(), order_tx.clone());
            tokio::spawn(hold(semaphore.clone(), async move {
                tx.send("first starts").unwrap();
                assert_eq!(semaphore.available_permits(), 0);
                idle(Duration::from_millis(50)).await;
                tx.send("first resumes").unwrap();
                assert_eq!(semaphore.available_permits(), 0, "it holds a slot again");
            }))
        };
        // Queued behind the first; runs while the first is idle.
        tokio::task::yield_now().await;
        let second = {
            let tx = order_tx.clone();
            tokio::spawn(hold(semaphore.clone(), async move {
                tx.send("second runs").unwrap();
            }))
        };
        first.await.unwrap();
        second.await.unwrap();
        drop(order_tx);
        let mut seen = Vec::new();
        while let Some(s) = order.recv().await {
            seen.push(s);
        }
        assert_eq!(seen, ["first starts", "second runs", "first resumes"]);
        assert_eq!(semaphore.available_permits(), 1, "every slot given back");
    }

    #[tokio::test]
    async fn closing_ends_the_passes_still_queued_and_lets_the_running_one_finish() {
        let semaphore = Arc::new(Semaphore::new(1));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(hold(semaphore.clone(), async move {
            released.await.unwrap();
            "finished"
        }));
        while semaphore.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn(hold(semaphore.clone(), async { "ran" }));
        tokio::task::yield_now().await;
        close(&semaphore);
        assert!(queued.await.unwrap().is_none(), "a queued pass never runs");
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap().map(|(_, out)| out), Some("finished"));
    }

    #[tokio::test]
    async fn outside_a_pass_idle_only_waits() {
        let started = tokio::time::Instant::now();
        idle(Duration::from_millis(5)).await;
        assert!(started.elapsed() >= Duration::from_millis(5));
    }
}
