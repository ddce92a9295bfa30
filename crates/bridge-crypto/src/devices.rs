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
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use crate::{CryptoDatabase, DEVICE_ID, Device, Error, Homeserver};

/// The encryption part of an appservice transaction, under the names Synapse sends it.
#[derive(Debug, Default, Deserialize)]
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
    /// bridge's. Everything is stored when this returns: the transaction may be acknowledged.
    /// Returns the devices that got something, whose outgoing requests (new one-time keys, key
    /// queries) should be sent soon.
    pub async fn receive(
        &self,
        crypto: TransactionCrypto,
        ours: impl Fn(&UserId) -> bool,
    ) -> Result<Vec<Arc<Device>>, Error> {
        let mut to_device: BTreeMap<OwnedUserId, Vec<Raw<AnyToDeviceEvent>>> = BTreeMap::new();
        for event in crypto.to_device {
            let Ok(to) = serde_json::from_str::<Addressee>(event.get()) else {
                tracing::warn!("a to-device event without its addressee; ignored");
                continue;
            };
            if to.to_device_id.as_str() == DEVICE_ID && ours(&to.to_user_id) {
                to_device
                    .entry(to.to_user_id)
                    .or_default()
                    .push(Raw::from_json(event));
            }
        }
        let counts = |user: &UserId| {
            crypto
                .one_time_keys
                .get(user)
                .and_then(|devices| devices.get(<&ruma::DeviceId>::from(DEVICE_ID)))
        };
        let fallback = |user: &UserId| {
            crypto
                .fallback_keys
                .get(user)
                .and_then(|devices| devices.get(<&ruma::DeviceId>::from(DEVICE_ID)))
                .map(Vec::as_slice)
        };
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
            devices.push(self.device(&user).await?);
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
            let user = device.user_id().to_owned();
            device
                .receive(
                    to_device.remove(&user).unwrap_or_default(),
                    &crypto.device_lists,
                    counts(&user).unwrap_or(&none),
                    fallback(&user),
                )
                .await?;
        }
        Ok(devices)
    }
}
