//! The directory as a SCIM identity provider changes it, one user at a time: each change is
//! stored like any directory change (audited) and rings the reconciler. The HTTP side
//! (`http::scim`) only parses and answers; what a request may change is decided here.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::{
    directory::{Record, scim::Filter, snapshot::Change},
    store::{Store, StoreError, StoredEmployee},
};

/// The directory source SCIM changes are recorded under.
const SOURCE: &str = "scim";

pub struct ScimUsers {
    store: Store,
    /// The directory's wake-up: the rooms follow each change within moments.
    directory_wake: Arc<Notify>,
    /// `directory.attributes`: the only attributes kept, if set.
    kept: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScimUsersError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("externalId is the employee's stable key and cannot change")]
    KeyChanged,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ScimUsers {
    pub fn new(store: Store, directory_wake: Arc<Notify>, kept: Option<Vec<String>>) -> Self {
        ScimUsers {
            store,
            directory_wake,
            kept,
        }
    }

    /// The current users (not deprovisioned) that match `filter`.
    pub async fn list(
        &self,
        filter: Option<&Filter>,
    ) -> Result<Vec<StoredEmployee>, ScimUsersError> {
        Ok(self
            .store
            .employees()
            .await?
            .into_iter()
            .filter(|e| !e.employee.removed)
            .filter(|e| match filter {
                None => true,
                Some(Filter::UserName(name)) => e.scim_user_name.as_deref() == Some(name.as_str()),
                Some(Filter::ExternalId(id)) => e.employee.record.employee_id == *id,
            })
            .collect())
    }

    /// A current user by SCIM id.
    pub async fn find(&self, id: &str) -> Result<StoredEmployee, ScimUsersError> {
        match self.store.employee_by_scim_id(id).await? {
            Some(e) if !e.employee.removed => Ok(e),
            _ => Err(ScimUsersError::NotFound(format!("no user {id:?}"))),
        }
    }

    /// A new user; one deprovisioned before comes back under its old SCIM id.
    pub async fn create(
        &self,
        user_name: &str,
        record: Record,
    ) -> Result<StoredEmployee, ScimUsersError> {
        let existing = self.store.employee_by_id(&record.employee_id).await?;
        if existing
            .as_ref()
            .is_some_and(|e| e.scim_id.is_some() && !e.employee.removed)
        {
            return Err(ScimUsersError::Conflict(format!(
                "a user with externalId {:?} exists",
                record.employee_id
            )));
        }
        let scim_id = existing
            .and_then(|e| e.scim_id)
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
        self.store_change(&scim_id, user_name, record).await
    }

    /// `current`, as the identity provider now describes it.
    pub async fn update(
        &self,
        current: StoredEmployee,
        user_name: &str,
        record: Record,
    ) -> Result<StoredEmployee, ScimUsersError> {
        if record.employee_id != current.employee.record.employee_id {
            return Err(ScimUsersError::KeyChanged);
        }
        let scim_id = current.scim_id.unwrap_or_default();
        self.store_change(&scim_id, user_name, record).await
    }

    /// Deprovisioning: the employee is offboarded (kept, like a row gone from the CSV).
    pub async fn deprovision(&self, current: StoredEmployee) -> Result<(), ScimUsersError> {
        let change = Change::Removed(current.employee.record);
        self.store
            .employees_apply(SOURCE, &[change], "scim")
            .await?;
        self.directory_wake.notify_one();
        Ok(())
    }

    /// Stores the record (audited), gives it its SCIM identity, and rings the reconciler.
    async fn store_change(
        &self,
        scim_id: &str,
        user_name: &str,
        mut record: Record,
    ) -> Result<StoredEmployee, ScimUsersError> {
        if let Some(kept) = &self.kept {
            record.keep_only(kept);
        }
        let store = &self.store;
        if store
            .scim_user_name_taken(user_name, &record.employee_id)
            .await?
        {
            return Err(ScimUsersError::Conflict(format!(
                "userName {user_name:?} is taken"
            )));
        }
        let before = store.employee_by_id(&record.employee_id).await?;
        let change = match before {
            Some(b) if !b.employee.removed => (b.employee.record != record
                || b.employee.source != SOURCE)
                .then(|| Change::Changed(b.employee.record, record.clone())),
            _ => Some(Change::Added(record.clone())),
        };
        if let Some(change) = change {
            store.employees_apply(SOURCE, &[change], "scim").await?;
            self.directory_wake.notify_one();
        }
        store
            .employee_set_scim(&record.employee_id, scim_id, user_name)
            .await?;
        store
            .employee_by_id(&record.employee_id)
            .await?
            .ok_or_else(|| ScimUsersError::NotFound("the user vanished".into()))
    }
}
