//! The bell of each background worker, rung when there is new work for it (a row stored in its
//! durable queue, a change it watches), so that workers need not poll for it; the queues' new
//! rows are handed to their runners where they can be (`queue::Arrivals`).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::queue::Arrivals;
use crate::store::{InboxItem, OutboxItem, Store, ThreemaItem, WAKE_CHANNEL};

#[derive(Debug, Default)]
pub struct Wakes {
    /// The Matrix inbox has new rows (an appservice transaction was stored): handed to its
    /// runner, or its bell rung.
    pub matrix: Arc<Arrivals<InboxItem>>,
    /// The Threema inbox has new rows (callbacks, held messages queued again).
    pub threema: Arc<Arrivals<ThreemaItem>>,
    /// The outbox has new rows.
    pub outbox: Arc<Arrivals<OutboxItem>>,
    /// Broadcasts have recipients to fan out to.
    pub broadcast: Arc<Notify>,
    /// A broadcast's board may have changed (started, answered, resent).
    pub board: Arc<Notify>,
    /// The rooms should be brought in line with the directory (SCIM, a new portal).
    pub directory: Arc<Notify>,
    /// A directory pass ran: an offboarded driver may be due for erasure.
    pub erasures: Arc<Notify>,
}

impl Wakes {
    /// Each bell by the name it has between processes.
    fn named(&self) -> [(&'static str, &Arc<Notify>); 7] {
        [
            ("matrix", self.matrix.bell()),
            ("threema", self.threema.bell()),
            ("outbox", self.outbox.bell()),
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
