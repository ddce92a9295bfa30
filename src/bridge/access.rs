//! Who may use the bridge and who is current: the config's permissions (`bridge.permissions`)
//! and the directory as the message flows consult it on every event. The one place entry
//! points ask; the directory sync replaces its view after every run, and reads never wait.

use std::sync::{Arc, RwLock};

use ruma::{OwnedUserId, UserId};

use super::directory::DirectoryView;
use crate::{
    config::{Level, Permissions},
    threema::ThreemaId,
};

#[derive(Debug)]
pub struct Access {
    configured: Permissions,
    view: RwLock<Arc<DirectoryView>>,
}

impl Access {
    /// With an empty directory view until [`Access::replace_view`] (at startup, from the store).
    pub fn new(configured: Permissions) -> Self {
        Access {
            configured,
            view: Default::default(),
        }
    }

    /// The directory as of its last sync: drivers' names, who is current.
    pub fn view(&self) -> Arc<DirectoryView> {
        self.view.read().expect("not poisoned").clone()
    }

    pub fn replace_view(&self, view: DirectoryView) {
        *self.view.write().expect("not poisoned") = Arc::new(view);
    }

    /// What `user` may do: the config's permissions with the directory's dispatchers (see
    /// [`Permissions::level`]); nothing at all for those who left, whatever the config says.
    pub fn level(&self, user: &UserId) -> Level {
        self.configured.level(user, self.view().dispatcher(user))
    }

    /// May `user` see `driver` (open the chat, find them, read their messages' status, resend
    /// to them)? A dispatcher (by permission or directory) within the directory's scope.
    pub fn may_see(&self, user: &UserId, driver: &ThreemaId) -> bool {
        self.level(user) >= Level::Dispatcher && self.view().in_scope(user, driver)
    }

    /// Who may see `driver` among those the bridge can name: users named in
    /// `bridge.permissions`, `also` (the portals' `bridge.dispatchers`) and the directory's
    /// current dispatchers. (Those allowed by a server name are nobody in particular.)
    pub fn who_may_see(&self, driver: &ThreemaId, also: &[OwnedUserId]) -> Vec<OwnedUserId> {
        let view = self.view();
        let candidates = (self.configured.named(Level::Dispatcher))
            .map(|u| u.as_ref())
            .chain(also.iter().map(|u| u.as_ref()))
            .chain(view.current_dispatchers());
        let mut seen: Vec<OwnedUserId> = candidates
            .filter(|u| self.may_see(u, driver))
            .map(ToOwned::to_owned)
            .collect();
        seen.sort();
        seen.dedup();
        seen
    }

    /// The admins named in `bridge.permissions`.
    pub fn admins(&self) -> Vec<OwnedUserId> {
        (self.configured.admins())
            .filter(|u| self.level(u) >= Level::Admin)
            .cloned()
            .collect()
    }

    /// A driver the directory lists as gone (left, inactive, removed), or a Threema ID a
    /// driver had before their current one.
    pub fn is_former_driver(&self, id: &ThreemaId) -> bool {
        self.view().is_former_driver(id)
    }
}
