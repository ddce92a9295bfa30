//! The bell of each background worker, rung when there is new work for it (a row stored in its
//! durable queue, a change it watches), so that workers need not poll for it.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::queue::Arrivals;
use crate::store::{InboxItem, OutboxItem, Store, ThreemaItem, WAKE_CHANNEL};

#[derive(Debug)]
pub struct Wakes {
    /// The Matrix inbox has new rows (an appservice transaction was stored).
    pub matrix: Arc<Notify>,
    /// The Threema inbox has new rows (callbacks, held messages queued again).
    pub threema: Arc<Notify>,
    /// The outbox has new rows.
    pub outbox: Arc<Notify>,
    /// Broadcasts have recipients to fan out to.
    pub broadcast: Arc<Notify>,
    /// A broadcast's board may have changed (started, answered, resent).
    pub board: Arc<Notify>,
    /// The rooms should be brought in line with the directory (SCIM, a new portal).
    pub directory: Arc<Notify>,
    /// A directory pass ran: an offboarded driver may be due for erasure.
    pub erasures: Arc<Notify>,
    /// New rows of the Matrix inbox, the Threema inbox and the outbox, handed to their runners
    /// (or ringing the bells above).
    pub matrix_rows: Arc<Arrivals<InboxItem>>,
    pub threema_rows: Arc<Arrivals<ThreemaItem>>,
    pub outbox_rows: Arc<Arrivals<OutboxItem>>,
}

impl Default for Wakes {
    fn default() -> Self {
        let (matrix, threema, outbox) = <(Arc<Notify>, Arc<Notify>, Arc<Notify>)>::default();
        Wakes {
            matrix_rows: Arc::new(Arrivals::new(matrix.clone())),
            threema_rows: Arc::new(Arrivals::new(threema.clone())),
            outbox_rows: Arc::new(Arrivals::new(outbox.clone())),
            matrix,
            threema,
            outbox,
            broadcast: Arc::default(),
            board: Arc::default(),
            directory: Arc::default(),
            erasures: Arc::default(),
        }
    }
}

impl Wakes {
    /// Each bell by the name it has between processes.
    fn named(&self) -> [(&'static str, &Arc<Notify>); 7] {
        [
            ("matrix", &self.matrix),
            ("threema", &self.threema),
            ("outbox", &self.outbox),
            ("broadcast", &self.broadcast),
            ("board", &self.board),
            ("directory", &self.directory),
            ("erasures", &self.erasures),
        ]
    }

    /// On a standby (`ha`), until `standby` ends: a bell rung here (a transaction or a callback
    /// stored, a SCIM change) is passed on to the active process, which has the workers.
    pub async fn forward_to_active(&self, store: &Store, standby: CancellationToken) {
        async fn rung(name: &'static str, bell: &Notify) -> &'static str {
            bell.notified().await;
            name
        }
        loop {
            let bells = self.named().map(|(name, bell)| Box::pin(rung(name, bell)));
            let any = futures::future::select_all(bells);
            let name = tokio::select! {
                _ = standby.cancelled() => return,
                (name, _, _) = any => name,
            };
            if let Err(e) = store.announce(name).await {
                // The active finds the rows at its next rescan (seconds) anyway.
                tracing::warn!(error = %e, queue = name, "cannot wake the active process");
            }
        }
    }

    /// On the active (`ha`), until `term` ends: rings the bells the standbys pass on.
    pub async fn relay_from_standbys(&self, database_url: &SecretString, term: CancellationToken) {
        loop {
            let listening = async {
                let mut listener = PgListener::connect(database_url.expose_secret()).await?;
                listener.listen(WAKE_CHANNEL).await?;
                loop {
                    let note = listener.recv().await?;
                    if let Some((_, bell)) =
                        self.named().into_iter().find(|(n, _)| *n == note.payload())
                    {
                        bell.notify_one();
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                _ = term.cancelled() => return,
                Err(e) = listening => {
                    tracing::warn!(error = %e, "not listening for the standbys' wake-ups; again in a second");
                }
            }
            tokio::select! {
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}
