//! The fan-out: one durable row per recipient (`broadcast_delivery`), drained by the generic
//! inbox runner with one lane per driver. For each: the driver's portal (made if needed), the
//! bot's copy of the message there, then the Threema messages queued in the outbox under the
//! copy's event id. Each step is idempotent (the copy by its transaction id and the stored event
//! id, the outbox by its key), so a crash anywhere repeats steps but never sends twice.

use std::{num::NonZeroU32, sync::Arc};

use bridge_convert::plan::{Outgoing, signed_text};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::Broadcasts;
use crate::{
    bridge::{
        BridgeError,
        matrix_to_threema::outbox::With,
        queue::{Handled, Outcome, Queue},
        quick_replies,
    },
    store::{Delivery, DeliveryContext, DeliveryDone, StoreError},
    threema::{ThreemaError, ThreemaId},
};

pub struct BroadcastFanout {
    broadcasts: Arc<Broadcasts>,
    /// `broadcast.rate_per_second`: recipients queued per second at most.
    limiter: Option<DefaultDirectRateLimiter>,
}

impl BroadcastFanout {
    pub fn new(broadcasts: Arc<Broadcasts>) -> Self {
        let rate = broadcasts.config.rate_per_second;
        let limiter = (rate > 0.0).then(|| {
            let quota = if rate >= 1.0 {
                Quota::per_second(NonZeroU32::new(rate as u32).unwrap_or(NonZeroU32::MIN))
            } else {
                Quota::with_period(std::time::Duration::from_secs_f64(1.0 / rate))
                    .expect("a positive period")
            };
            RateLimiter::direct(quota)
        });
        BroadcastFanout {
            broadcasts,
            limiter,
        }
    }
}

impl Queue for BroadcastFanout {
    type Item = Delivery;
    const NAME: &'static str = "broadcast";

    fn seq(item: &Delivery) -> i64 {
        item.seq
    }

    fn lane(item: &Delivery) -> &str {
        &item.recipient
    }

    fn key(item: &Delivery) -> String {
        format!("{}/{}", item.event_id, item.recipient)
    }

    async fn pending(&self, after_seq: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        self.broadcasts
            .store
            .delivery_pending(after_seq, limit)
            .await
    }

    async fn handle(&self, item: &Delivery) -> Result<Handled, BridgeError> {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.broadcasts.fan_out(item).await
    }

    async fn finish(&self, item: &Delivery, outcome: &Outcome) -> Result<(), StoreError> {
        // What did not go through is recorded as the recipient's error (shown on the board).
        let error = outcome.keeps_payload().then_some(outcome.detail());
        self.broadcasts.store.delivery_finish(item.seq, error).await
    }

    async fn record_attempt(&self, _item: &mut Delivery) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Names the broadcast a portal copy belongs to, so that a copy sent before a crash is found.
const BROADCAST_KEY: &str = "threema_bridge.broadcast";

impl Broadcasts {
    /// A broadcast's messages for one recipient: a template (`!t`) filled in for them and
    /// signed with the sender's name; the rest as they are.
    async fn filled_in(
        &self,
        items: &[Outgoing],
        driver: &ThreemaId,
    ) -> Result<Vec<Outgoing>, BridgeError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Outgoing::Template { text, dispatcher } => {
                    let relay = self.relay.by(dispatcher);
                    let filled = self.fill(text, dispatcher, driver).await?;
                    out.extend(signed_text(&filled, relay));
                }
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    /// `template` filled in for `driver` (their name, their directory attributes).
    async fn fill(
        &self,
        template: &str,
        dispatcher: &str,
        driver: &ThreemaId,
    ) -> Result<String, BridgeError> {
        let name = self.ghosts.driver_name(driver).await?;
        let view = self.access.view();
        Ok(quick_replies::fill(
            template,
            &name,
            dispatcher,
            |attribute| view.driver_attribute(driver, attribute).to_owned(),
        ))
    }

    /// One recipient of a broadcast: their portal and the bot's copy there, then the
    /// Threema messages queued under the copy.
    async fn fan_out(&self, item: &Delivery) -> Result<Handled, BridgeError> {
        let Some(context) = self.store.delivery_start(item.seq).await? else {
            return Ok(Outcome::failed("the recipient's row or the broadcast is gone").into());
        };
        let Some(driver) = ThreemaId::parse(&item.recipient) else {
            let not_an_id = format!("{:?} is not a Threema ID", item.recipient);
            return Ok(Outcome::failed(not_an_id).into());
        };
        if self.access.is_former_driver(&driver) {
            let left = crate::tr!(self.texts, "failed-driver-left");
            return Ok(Outcome::refused(left).into());
        }
        let items: Vec<Outgoing> = serde_json::from_str(&context.payload)
            .map_err(|e| BridgeError::BadEvent(format!("broadcast payload: {e}")))?;
        if matches!(items.first(), Some(Outgoing::Poll(_)))
            && self.poll_ended(&item.event_id).await?
        {
            return Ok(Outcome::skipped("the poll ended before it reached them").into());
        }
        let (portal, copy) = match (&item.portal_room, &item.copy_event) {
            // A poll's copy, recorded before (`portal_copy`).
            (Some(portal), Some(copy)) => (portal.clone(), copy.clone()),
            _ => match self.portal_copy(item, &context, &items, &driver).await? {
                Ok(placed) => placed,
                Err(not_placed) => return Ok(not_placed.into()),
            },
        };
        let items = self.filled_in(&items, &driver).await?;
        let portal_id = ruma::OwnedRoomId::try_from(portal.as_str())
            .map_err(|_| StoreError::corrupt("broadcast_delivery", "portal_room"))?;
        // A broadcast to drivers off duty waits for each one's shift, as any message does. The
        // copy, the rows and the end of this recipient are one commit.
        let with = With {
            urgent: false,
            delivery: Some(DeliveryDone {
                seq: item.seq,
                portal_room: portal,
                copy_event: copy.clone(),
            }),
        };
        let sender = context.sender.as_str();
        let queued = (self.outbox)
            .queue(&items, &driver, &copy, &portal_id, sender, with)
            .await?;
        let queued = format!("copy {copy}, {} message(s) queued", queued.new);
        Ok(Handled::ended(Outcome::bridged(queued)))
    }

    /// The recipient's portal (opened if needed) and the bot's copy of the broadcast there,
    /// recorded on the delivery row; or why there is none. A copy whose send may have gone
    /// through (the row says it was tried) is looked for before it is sent again. `items` is
    /// the broadcast's payload, read once by the caller (a template's copy is filled from it)
    /// with the rest of `context`.
    async fn portal_copy(
        &self,
        item: &Delivery,
        context: &DeliveryContext,
        items: &[Outgoing],
        driver: &ThreemaId,
    ) -> Result<Result<(String, String), Outcome>, BridgeError> {
        if context.restricted {
            return Ok(Err(Outcome::failed(crate::tr!(
                self.texts,
                "failed-restricted"
            ))));
        }
        let portal = match &context.portal {
            Some(room_id) => room_id.clone(),
            None => {
                // Not opened yet: only for an ID that exists (as `start` does).
                match self.keys.trusted(driver).await {
                    Ok(_) => {}
                    Err(BridgeError::Threema(ThreemaError::NotFound)) => {
                        return Ok(Err(Outcome::failed(crate::tr!(
                            self.texts,
                            "failed-no-such-id"
                        ))));
                    }
                    Err(e) => return Err(e),
                }
                let name = self.ghosts.driver_name(driver).await?;
                let ghost = self.ghosts.ensure_named(driver, &name).await?;
                self.portals.ensure(driver, &ghost, &name).await?
            }
        };
        let mut content: serde_json::Value = serde_json::from_str(&context.content)
            .map_err(|e| BridgeError::BadEvent(format!("broadcast content: {e}")))?;
        // A template's copy shows what this driver got.
        if let Some(Outgoing::Template { text, dispatcher }) = items.first() {
            let filled = self.fill(text, dispatcher, driver).await?;
            let text = serde_json::json!({"msgtype": "m.text", "body": filled});
            let marker = self.copy_marker(dispatcher, context.ack);
            content = super::copy::portal_copy(&text, &marker);
        }
        content[BROADCAST_KEY] = item.event_id.clone().into();
        let txn = format!("broadcast-{}-{}", item.event_id, item.recipient);
        // Marked tried by `delivery_start`.
        let copy = self
            .notices
            .post_once(
                &portal,
                &content,
                BROADCAST_KEY,
                context.tried_before,
                &txn,
                async { Ok(()) },
            )
            .await?;
        // Recorded with the rows it is queued with (`fan_out`): a crash before that finds the
        // copy in the portal, as the row says it was tried. A poll's copy at once: the poll's
        // end closes the copies on record, and one posted meanwhile must be among them.
        if matches!(items.first(), Some(Outgoing::Poll(_))) {
            (self.store)
                .delivery_set_copy(item.seq, portal.as_str(), copy.as_str())
                .await?;
        }
        Ok(Ok((portal.to_string(), copy.to_string())))
    }
}
