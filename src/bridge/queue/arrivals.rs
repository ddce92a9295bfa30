//! New rows handed to a queue's runner by the code that committed them, so that the runner
//! takes them as they are instead of being woken to read them back: at the desk's pace every
//! row came alone, and each cost a wake-up and a read of the queue.
//!
//! Handing is only a shortcut. The runner takes a handed row only if its number follows the
//! last one it saw (`run`), and reads on instead from that number when it does not; a row
//! that cannot be handed (no runner here: a standby, before the catch-up, after the term; the
//! channel full) rings the queue's bell, and the runner reads as it always did. So a row is
//! still found if handing fails, and never taken twice: a read moves the last number seen past
//! what it found. Only rows a read would return are handed (not an outbox row held for the
//! driver's shift).

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

/// Rows waiting for the runner at most; past that the bell rings (the runner reads them).
const WAITING: usize = 1024;

/// The way into a queue's runner for rows just committed, and its bell.
pub struct Arrivals<T> {
    bell: Arc<Notify>,
    /// The running runner's end, if one runs in this process.
    runner: Mutex<Option<mpsc::Sender<T>>>,
}

impl<T> Arrivals<T> {
    pub fn new(bell: Arc<Notify>) -> Self {
        Arrivals {
            bell,
            runner: Mutex::new(None),
        }
    }

    /// The bell a row that is not handed rings (also passed on to the active process).
    pub fn bell(&self) -> &Arc<Notify> {
        &self.bell
    }

    /// Hands `rows`, committed and in the order of their numbers, to the runner; rings the
    /// bell for what cannot be handed.
    pub fn hand(&self, rows: impl IntoIterator<Item = T>) {
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return;
        }
        let runner = self.runner.lock().expect("arrivals lock");
        if let Some(runner) = runner.as_ref()
            && rows.all(|row| runner.try_send(row).is_ok())
        {
            return;
        }
        self.bell.notify_one();
    }

    /// A new runner's end; rows handed to an earlier runner's end ring the bell from now on.
    pub(super) fn receiver(&self) -> mpsc::Receiver<T> {
        let (sender, receiver) = mpsc::channel(WAITING);
        *self.runner.lock().expect("arrivals lock") = Some(sender);
        receiver
    }
}

impl<T> Default for Arrivals<T> {
    fn default() -> Self {
        Arrivals::new(Arc::default())
    }
}

/// The rows are the queue's and may carry personal data: not shown.
impl<T> std::fmt::Debug for Arrivals<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arrivals").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn rung(bell: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(50), bell.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn rows_go_to_the_running_runner_and_ring_the_bell_where_none_takes_them() {
        let arrivals = Arrivals::new(Arc::new(Notify::new()));
        // No runner (a standby, before the catch-up): the bell.
        arrivals.hand([1]);
        assert!(rung(arrivals.bell()).await);

        let mut runner = arrivals.receiver();
        arrivals.hand([2, 3]);
        assert_eq!(
            (runner.recv().await, runner.recv().await),
            (Some(2), Some(3))
        );
        assert!(!rung(arrivals.bell()).await, "handed rows ring nothing");
        arrivals.hand(Vec::new());
        assert!(
            !rung(arrivals.bell()).await,
            "nothing to hand rings nothing"
        );

        // Full: what does not fit rings the bell, what fit waits in order.
        arrivals.hand(0..WAITING as i32 + 5);
        assert!(rung(arrivals.bell()).await);
        assert_eq!(runner.recv().await, Some(0));

        // The runner stopped (the term ended): the bell again.
        drop(runner);
        arrivals.hand([4]);
        assert!(rung(arrivals.bell()).await);

        // A new runner's end replaces the stopped one's.
        let mut runner = arrivals.receiver();
        arrivals.hand([5]);
        assert_eq!(runner.recv().await, Some(5));
    }
}
