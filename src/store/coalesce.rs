//! Concurrent calls of one kind share one statement. Each SQL statement on SQLite is a round
//! trip to its connection's thread (and sqlx pings the connection when it goes back to the
//! pool); sixteen queue lanes reading or marking one row each made sixteen of them. A call that
//! finds no batch of its kind under way starts one: a task that takes the calls waiting (at
//! most `MOST`, each key once, the caller's among them), runs them as one statement and
//! answers each, and goes on with what arrived meanwhile until nothing waits. A lone call
//! runs at once, through that task (a spawn and a wake more than before); a call that arrives
//! while a batch runs waits for it.
//!
//! A batch holds a key once (a second call for it waits for the next batch, as one after the
//! other would), and runs in a task of its own: a caller that goes away cannot leave the others
//! unanswered, nor a statement half done (it runs to its end without them). Each call gets its
//! own row's result: a row that does not read back fails only its caller. A failed statement
//! fails every call of its batch: these statements have no failure of one row (no constraint
//! one row could break), so each call alone would have failed too; the queues retry what is
//! transient.
//!
//! By hand: a lock, a list and a oneshot per caller, as `intake`'s writer; no crate offers
//! this over sqlx.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use sqlx::{Row, any::AnyRow};
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::{Store, StoreError};

/// Calls in one statement at most: a bound on its size.
const MOST: usize = 256;

type Answer<V> = oneshot::Sender<Result<V, Arc<StoreError>>>;

/// Calls of one kind, keyed by what differs between them (a row's number).
pub(super) struct Coalesced<K, V> {
    inner: Arc<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Calls not taken into a batch yet, oldest first.
    waiting: Mutex<Vec<(K, Answer<V>)>>,
    /// Held by the task running this kind's batches.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl<K, V> Default for Coalesced<K, V> {
    fn default() -> Self {
        Coalesced {
            inner: Arc::new(Inner {
                waiting: Mutex::default(),
                turn: Arc::default(),
            }),
        }
    }
}

impl<K, V> std::fmt::Debug for Coalesced<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coalesced")
    }
}

impl<K, V> Coalesced<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Send + 'static,
{
    /// `key`'s result, run on `store` with the calls waiting alongside it: `run` gets their
    /// keys (each once, at most `MOST`, in the order they came) and returns a result for each,
    /// in that order.
    pub(super) async fn call<F, Fut>(&self, store: &Store, key: K, run: F) -> Result<V, StoreError>
    where
        F: Fn(Store, Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Result<V, StoreError>>, StoreError>> + Send + 'static,
    {
        let (answer, mut answered) = oneshot::channel();
        let inner = &self.inner;
        inner.waiting().push((key, answer));
        let turn = tokio::select! {
            biased;
            result = &mut answered => return answer_of(result),
            turn = inner.turn.clone().lock_owned() => turn,
        };
        match answered.try_recv() {
            // Answered by the batches that ran before this turn.
            Ok(result) => return result.map_err(shared),
            Err(TryRecvError::Closed) => return Err(lost()),
            Err(TryRecvError::Empty) => {}
        }
        let (inner, store) = (self.inner.clone(), store.clone());
        tokio::spawn(async move {
            while let Some(batch) = inner.next_batch() {
                run_batch(&store, &run, batch).await;
            }
            drop(turn);
        });
        answer_of(answered.await)
    }
}

impl<K, V> Inner<K, V> {
    /// The calls waiting. A panic while the list is held leaves it whole (a push or a drain).
    fn waiting(&self) -> MutexGuard<'_, Vec<(K, Answer<V>)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Eq + Hash + Clone, V> Inner<K, V> {
    /// Up to `MOST` of the calls waiting, oldest first, each key once; calls whose caller went
    /// away are dropped.
    fn next_batch(&self) -> Option<Vec<(K, Answer<V>)>> {
        let mut waiting = self.waiting();
        waiting.retain(|(_, answer)| !answer.is_closed());
        let mut keys = HashSet::new();
        let mut batch = Vec::new();
        let mut later = Vec::new();
        for (key, answer) in waiting.drain(..) {
            if batch.len() < MOST && keys.insert(key.clone()) {
                batch.push((key, answer));
            } else {
                later.push((key, answer));
            }
        }
        *waiting = later;
        (!batch.is_empty()).then_some(batch)
    }
}

/// Runs one batch and answers each of its calls.
async fn run_batch<K, V, F, Fut>(store: &Store, run: &F, batch: Vec<(K, Answer<V>)>)
where
    F: Fn(Store, Vec<K>) -> Fut,
    Fut: Future<Output = Result<Vec<Result<V, StoreError>>, StoreError>>,
{
    let (keys, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let n = keys.len();
    let results = match run(store.clone(), keys).await {
        Ok(results) if results.len() == n => results,
        Ok(_) => {
            let e = "a batch answered another number of calls than it ran";
            return answer_all(answers, StoreError::Sqlx(sqlx::Error::Protocol(e.into())));
        }
        Err(e) => return answer_all(answers, e),
    };
    for (answer, result) in answers.into_iter().zip(results) {
        // A caller that went away is answered by nobody.
        let _ = answer.send(result.map_err(Arc::new));
    }
}

/// Fails every call of a batch with `e`; the last one gets it as it is once the others let
/// go of it (a batch of one: always).
fn answer_all<V>(mut answers: Vec<Answer<V>>, e: StoreError) {
    let last = answers.pop();
    let e = Arc::new(e);
    for answer in answers {
        let _ = answer.send(Err(e.clone()));
    }
    if let Some(last) = last {
        let _ = last.send(Err(e));
    }
}

fn answer_of<V>(
    result: Result<Result<V, Arc<StoreError>>, oneshot::error::RecvError>,
) -> Result<V, StoreError> {
    match result {
        Ok(result) => result.map_err(shared),
        Err(_) => Err(lost()),
    }
}

/// The batch task stopped without answering (it panicked, or the runtime shut down):
/// transient, as a crashed connection is; the statement may or may not have run (the queues'
/// state machines read the row again).
fn lost() -> StoreError {
    StoreError::Sqlx(sqlx::Error::WorkerCrashed)
}

/// A call that writes `values` into the row `seq`: a batch writes a row once (a second write
/// of it waits for the next batch, as one after the other would), so it is known by `seq`
/// alone.
#[derive(Debug, Clone)]
pub(super) struct RowWrite<T> {
    pub seq: i64,
    pub values: T,
}

impl<T> PartialEq for RowWrite<T> {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl<T> Eq for RowWrite<T> {}

impl<T> Hash for RowWrite<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.seq.hash(state);
    }
}

/// A `VALUES` list of `rows` rows of `types` (SQL types, one per column), placeholders from
/// `$first` on. Each value is cast to its type: PostgreSQL gives a `VALUES` column the type of
/// its values, and a list of nothing but NULLs would otherwise be text.
pub(super) fn values_list(first: usize, rows: usize, types: &[&str]) -> String {
    let row = |i: usize| {
        let casts = (types.iter().enumerate())
            .map(|(c, ty)| format!("CAST(${} AS {ty})", first + i * types.len() + c))
            .collect::<Vec<_>>();
        format!("({})", casts.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// A batch's rows by their `seq` column, for answering each call with its own.
pub(super) fn by_seq(rows: Vec<AnyRow>) -> Result<HashMap<i64, AnyRow>, StoreError> {
    (rows.into_iter())
        .map(|row| Ok((row.try_get("seq")?, row)))
        .collect()
}

/// How many placeholders a list of `n` takes: rounded up to a power of two (the last value
/// repeated), so that a kind of batch is a handful of statements in sqlx's cache of prepared
/// ones (a hundred per connection), not one per size.
pub(super) fn padded(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// `items` numbered up to [`padded`]'s length, the last repeated (the same row, the same
/// values); nothing for no items.
pub(super) fn padded_rows<T>(items: &[T]) -> impl Iterator<Item = (usize, &T)> {
    let n = if items.is_empty() {
        0
    } else {
        padded(items.len())
    };
    (0..n).map(move |i| (i, &items[i.min(items.len() - 1)]))
}

/// `values` bound in turn, the last repeated up to [`padded`]'s length.
pub(super) fn bind_padded<'q, T>(
    mut query: super::lease::Query<'q>,
    values: &'q [T],
) -> super::lease::Query<'q>
where
    &'q T: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'q,
{
    for (_, value) in padded_rows(values) {
        query = query.bind(value);
    }
    query
}

/// The error of a batch, as the error of one of its calls: the same error where it carries
/// nothing but its kind (so that a caller can match on it), shared otherwise.
fn shared(e: Arc<StoreError>) -> StoreError {
    Arc::try_unwrap(e).unwrap_or_else(|e| match &*e {
        StoreError::NotActive => StoreError::NotActive,
        StoreError::Needs(what) => StoreError::Needs(what),
        StoreError::Corrupt { table, column } => StoreError::corrupt(table, column),
        _ => StoreError::Shared(e),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::{sync::Notify, task::JoinHandle, time::timeout};

    use super::*;

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
        Store::connect(&url, 2).await.unwrap()
    }

    /// The keys of each run, in the order they ran.
    type Runs = Arc<Mutex<Vec<Vec<u32>>>>;

    /// A call of `key` on `calls`, whose runs answer `key * 10` once `go` lets them (if given)
    /// and record their keys in `runs`.
    fn call(
        calls: &Arc<Coalesced<u32, u32>>,
        store: &Store,
        key: u32,
        runs: &Runs,
        go: Option<Arc<Notify>>,
    ) -> JoinHandle<Result<u32, StoreError>> {
        let (calls, store, runs) = (calls.clone(), store.clone(), runs.clone());
        tokio::spawn(async move {
            let run = move |_: Store, keys: Vec<u32>| {
                runs.lock().unwrap().push(keys.clone());
                let go = go.clone();
                async move {
                    if let Some(go) = go {
                        go.notified().await;
                    }
                    Ok(keys.into_iter().map(|k| Ok(k * 10)).collect())
                }
            };
            calls.call(&store, key, run).await
        })
    }

    async fn answer(call: JoinHandle<Result<u32, StoreError>>) -> Result<u32, StoreError> {
        timeout(Duration::from_secs(5), call)
            .await
            .expect("answered")
            .unwrap()
    }

    #[tokio::test]
    async fn calls_waiting_together_run_as_one_batch_each_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, calls, runs) = (store(&dir).await, Arc::default(), Runs::default());
        // On this single-threaded runtime every call queues up before the batch task runs.
        let keys = [1, 2, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let waiting: Vec<_> = (keys.iter())
            .map(|key| call(&calls, &store, *key, &runs, None))
            .collect();
        for (key, call) in keys.iter().zip(waiting) {
            assert_eq!(answer(call).await.unwrap(), key * 10);
        }
        // Key 2 a second time waits for the next batch, as one call after the other would.
        let mut first: Vec<u32> = keys.to_vec();
        first.remove(3);
        assert_eq!(*runs.lock().unwrap(), [first, vec![2]]);
    }

    /// Three calls (keys 1 to 3) at once, answered as `run` says.
    async fn at_once<F, Fut>(
        calls: &Arc<Coalesced<u32, u32>>,
        store: &Store,
        run: F,
    ) -> Vec<Result<u32, StoreError>>
    where
        F: Fn(Store, Vec<u32>) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Result<u32, StoreError>>, StoreError>> + Send + 'static,
    {
        let waiting: Vec<_> = (1..=3)
            .map(|key| {
                let (calls, store) = (calls.clone(), store.clone());
                tokio::spawn(async move { calls.call(&store, key, run).await })
            })
            .collect();
        futures::future::join_all(waiting.into_iter().map(answer)).await
    }

    #[tokio::test]
    async fn a_row_that_fails_fails_only_its_caller_and_a_failed_statement_fails_all() {
        let dir = tempfile::tempdir().unwrap();
        let (store, calls) = (store(&dir).await, Arc::<Coalesced<u32, u32>>::default());
        async fn odd_rows_fail(
            _: Store,
            keys: Vec<u32>,
        ) -> Result<Vec<Result<u32, StoreError>>, StoreError> {
            assert_eq!(keys, [1, 2, 3], "one batch");
            Ok((keys.into_iter())
                .map(|k| match k % 2 {
                    0 => Ok(k),
                    _ => Err(StoreError::corrupt("t", "c")),
                })
                .collect())
        }
        let answers = at_once(&calls, &store, odd_rows_fail).await;
        assert!(matches!(answers[0], Err(StoreError::Corrupt { .. })));
        assert_eq!(answers[1].as_ref().unwrap(), &2);
        assert!(matches!(answers[2], Err(StoreError::Corrupt { .. })));

        // A failed statement fails each call of its batch, with the error as it is.
        async fn down(
            _: Store,
            keys: Vec<u32>,
        ) -> Result<Vec<Result<u32, StoreError>>, StoreError> {
            assert_eq!(keys, [1, 2, 3], "one batch, not run again");
            Err(StoreError::NotActive)
        }
        for answer in at_once(&calls, &store, down).await {
            assert!(matches!(answer, Err(StoreError::NotActive)));
        }
        async fn miscounted(
            _: Store,
            _: Vec<u32>,
        ) -> Result<Vec<Result<u32, StoreError>>, StoreError> {
            Ok(vec![Ok(1)])
        }
        for answer in at_once(&calls, &store, miscounted).await {
            assert!(answer.is_err(), "an answer short is no answer");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_many_threads_every_caller_that_stays_gets_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (store, calls) = (store(&dir).await, Arc::<Coalesced<u32, u32>>::default());
        async fn times_ten(
            _: Store,
            keys: Vec<u32>,
        ) -> Result<Vec<Result<u32, StoreError>>, StoreError> {
            tokio::task::yield_now().await;
            Ok(keys.into_iter().map(|k| Ok(k * 10)).collect())
        }
        // Keys repeat (each one six times), and every seventh caller goes away at once.
        let callers: Vec<_> = (0..600u32)
            .map(|i| {
                let (calls, store) = (calls.clone(), store.clone());
                let caller = tokio::spawn(async move {
                    (calls.call(&store, i % 100, times_ten).await).map(|v| (i, v))
                });
                if i % 7 == 0 {
                    caller.abort();
                }
                caller
            })
            .collect();
        let mut answered = 0;
        for caller in callers {
            match timeout(Duration::from_secs(10), caller)
                .await
                .expect("answered")
            {
                Ok(answer) => {
                    let (i, value) = answer.unwrap();
                    assert_eq!(value, (i % 100) * 10);
                    answered += 1;
                }
                Err(e) => assert!(e.is_cancelled()),
            }
        }
        assert!(answered >= 600 - 600 / 7 - 1);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_its_batch_running_and_is_not_run_later() {
        let dir = tempfile::tempdir().unwrap();
        let (store, calls, runs) = (store(&dir).await, Arc::default(), Runs::default());
        let go = Arc::new(Notify::new());
        let first = call(&calls, &store, 1, &runs, Some(go.clone()));
        let second = call(&calls, &store, 2, &runs, Some(go.clone()));
        while runs.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        // The batch of 1 and 2 runs; 3 waits for the next, and its caller goes away.
        let third = call(&calls, &store, 3, &runs, Some(go.clone()));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        first.abort();
        third.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        assert!(third.await.unwrap_err().is_cancelled());
        go.notify_waiters();
        assert_eq!(answer(second).await.unwrap(), 20);
        // Nothing else ran: the third call was dropped, not run for nobody.
        let fourth = call(&calls, &store, 4, &runs, None);
        assert_eq!(answer(fourth).await.unwrap(), 40);
        assert_eq!(*runs.lock().unwrap(), [vec![1, 2], vec![4]]);
    }
}
