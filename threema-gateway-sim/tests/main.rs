//! The simulator's tests, one binary (linking one per file cost more than running them).

mod common;

mod admin;
mod bin;
mod callbacks;
mod conformance;
mod phones;
mod python_sdk;
mod sdk_crate;
mod status_codes;
