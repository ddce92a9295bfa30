//! All the bridge's devices, opened as they are needed, and what a homeserver transaction has
//! for them (MSC2409 to-device events, MSC3202 device lists and one-time key counts).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedUserId, UInt, UserId,
    api::client::sync::sync_events::DeviceLists, events::AnyToDeviceEvent, serde::Raw,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use crate::{CryptoDatabase, Device, Error, Homeserver};

/// The encryption part of an appservice transaction, under the names Synapse sends it (and
/// kept in that form where it waits for the active process, see `crypto_inbox`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct TransactionCrypto {
    #[serde(rename = "de.sorunome.msc2409.to_device", default)]
    to_device: Vec<Box<RawValue>>,
    #[serde(rename = "org.matrix.msc3202.device_lists", default)]
    device_lists: DeviceLists,
    #[serde(rename = "org.matrix.msc3202.device_one_time_keys_count", default)]
    one_time_keys:
        BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<OneTimeKeyAlgorithm, UInt>>>,
    #[serde(
        rename = "org.matrix.msc3202.device_unused_fallback_key_types",
        default
    )]
    fallback_keys: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Vec<OneTimeKeyAlgorithm>>>,
}

impl TransactionCrypto {
    /// Reads the encryption part of a transaction's body (the rest is ignored).
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("what was read serialises")
    }

    pub fn is_empty(&self) -> bool {
        self.to_device.is_empty()
            && self.device_lists.is_empty()
            && self.one_time_keys.is_empty()
            && self.fallback_keys.is_empty()
    }
}

/// A to-device event's addressee, as Synapse adds it (MSC2409).
#[derive(Deserialize)]
struct Addressee {
    to_user_id: OwnedUserId,
    to_device_id: OwnedDeviceId,
}

/// The bridge's devices: the bot's and every ghost's.
pub struct Devices {
    db: CryptoDatabase,
    homeserver: Arc<Homeserver>,
    /// Opened (or being opened) devices; a device is opened once.
    open: Mutex<HashMap<OwnedUserId, Arc<OnceCell<Arc<Device>>>>>,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").finish_non_exhaustive()
    }
}

impl Devices {
    pub fn new(db: CryptoDatabase, homeserver: Arc<Homeserver>) -> Self {
        Devices {
            db,
            homeserver,
            open: Mutex::default(),
        }
    }

    /// `user_id`'s device, opened (and on first use created) now if it is not yet.
    pub async fn device(&self, user_id: &UserId) -> Result<Arc<Device>, Error> {
        let cell = self
            .open
            .lock()
            .expect("devices lock")
            .entry(user_id.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            Device::open(&self.db, self.homeserver.clone(), user_id)
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
    }

    /// Forgets the devices opened so far: a process that becomes active again (`ha`) reads
    /// their state anew, as the other process left it.
    pub fn close_all(&self) {
        self.open.lock().expect("devices lock").clear();
    }

    /// The devices opened so far.
    pub fn opened(&self) -> Vec<Arc<Device>> {
        self.open
            .lock()
            .expect("devices lock")
            .values()
            .filter_map(|cell| cell.get().cloned())
            .collect()
    }

    /// Hands each device what the transaction has for it; `ours` says which users are the
    /// bridge's. What could be taken in is stored when this returns. One device's failure (a
    /// deactivated ghost, a store error) is its own: it is logged and the others go on, since
    /// the homeserver would not send the to-device part again anyway. Returns the devices that
    /// got something, whose outgoing requests (new one-time keys, key queries) should be sent
    /// soon.
    pub async fn receive(
        &self,
        crypto: TransactionCrypto,
        ours: impl Fn(&UserId) -> bool,
    ) -> Vec<Arc<Device>> {
        // Per user of ours, the events to each of their devices (only one is ours).
        let mut to_device: BTreeMap<OwnedUserId, Vec<(OwnedDeviceId, Raw<AnyToDeviceEvent>)>> =
            BTreeMap::new();
        for event in crypto.to_device {
            let Ok(to) = serde_json::from_str::<Addressee>(event.get()) else {
                tracing::warn!("a to-device event without its addressee; ignored");
                continue;
            };
            if ours(&to.to_user_id) {
                to_device
                    .entry(to.to_user_id)
                    .or_default()
                    .push((to.to_device_id, Raw::from_json(event)));
            }
        }
        // Those addressed are opened (a ghost's first room key opens its device); the others
        // already open hear of the device list changes.
        let mut users: Vec<OwnedUserId> = to_device.keys().cloned().collect();
        for user in crypto.one_time_keys.keys() {
            if ours(user) && !users.contains(user) {
                users.push(user.clone());
            }
        }
        let mut devices = Vec::new();
        for user in users {
            match self.device(&user).await {
                Ok(device) => devices.push(device),
                Err(e) => {
                    tracing::error!(error = %e, "a device cannot be opened: what the homeserver sent it is lost")
                }
            }
        }
        if !crypto.device_lists.is_empty() {
            for device in self.opened() {
                if !devices.iter().any(|d| Arc::ptr_eq(d, &device)) {
                    devices.push(device);
                }
            }
        }
        let none = BTreeMap::new();
        for device in &devices {
            let (user, id) = (device.user_id(), device.device_id());
            let events = to_device.remove(user).unwrap_or_default();
            // Events to a device of the user's that is not this one (one an earlier database
            // made) cannot be read: left alone.
            let events = events
                .into_iter()
                .filter_map(|(to, event)| (to == id).then_some(event))
                .collect();
            let counts = crypto.one_time_keys.get(user).and_then(|d| d.get(id));
            let fallback = crypto.fallback_keys.get(user).and_then(|d| d.get(id));
            if let Err(e) = device
                .receive(
                    events,
                    &crypto.device_lists,
                    counts.unwrap_or(&none),
                    fallback.map(Vec::as_slice),
                )
                .await
            {
                tracing::error!(error = %e, "a device could not take in what the homeserver sent it");
            }
        }
        devices
    }
}
