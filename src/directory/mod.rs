//! The employee directory: who is a driver or a dispatcher, their names and attributes, who has
//! left. Sources (CSV, HTTP JSON, SCIM) produce [`Record`]s; the pure planning here turns the
//! directory and what the bridge last set up into actions, which `bridge::directory` applies.

pub mod csv;
pub mod plan;
pub mod record;
pub mod scim;
pub mod selection;
pub mod snapshot;

pub use record::{Record, Role};
pub use snapshot::Employee;
