//! Delivery status, both ways: a phone's receipts shown on the desk (`to_matrix`), and the
//! desk's reading told to the phone (`to_threema`).

mod to_matrix;
mod to_threema;

use std::sync::Arc;

use super::{Access, Credits, Ghosts, Keys, wiring::Shared};
use crate::{
    config::{Config, ReadReceipts},
    matrix::MatrixClient,
    store::Store,
    threema::ThreemaClient,
};

/// Read and delivery receipts, both ways. It holds the services and settings they use, not the
/// whole bridge, so what a receipt can touch is visible here.
pub struct Receipts {
    store: Store,
    /// Shows the driver's receipts (markers, reactions, the ghost's read receipt) and reads
    /// when a desk message was sent.
    matrix: MatrixClient,
    /// Sends the desk's reading to the driver.
    threema: Arc<ThreemaClient>,
    /// Whose reading counts (dispatchers).
    access: Arc<Access>,
    /// The drivers' ghosts show their receipts; their own reading does not count.
    ghosts: Arc<Ghosts>,
    keys: Arc<Keys>,
    credits: Arc<Credits>,
    /// `bridge.read_receipts`.
    mode: ReadReceipts,
    /// Portals show each driver's reading (`bridge.read_receipts` and `privacy:` allow).
    reads_in_portals: bool,
    /// `bridge.received_marker` and `read_marker`: the reactions that show delivery.
    received_marker: String,
    read_marker: String,
    /// How long a receipt took to show.
    metrics: Arc<crate::metrics::Metrics>,
    /// What the API sent: receipts are reported to its webhooks.
    api_events: Arc<crate::bridge::integration::events::ApiEvents>,
}

impl Receipts {
    pub(in crate::bridge) fn new(config: &Config, shared: &Shared) -> Self {
        let Shared {
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            credits,
            metrics,
            ..
        } = shared.clone();
        Receipts {
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            credits,
            mode: config.bridge.read_receipts,
            reads_in_portals: config.privacy.reads_in_portals(config.bridge.read_receipts),
            received_marker: config.bridge.received_marker.clone(),
            read_marker: config.bridge.read_marker.clone(),
            metrics,
            api_events: shared.api_events.clone(),
        }
    }
}
