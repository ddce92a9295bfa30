//! Shared test support: fresh databases, a real Synapse, and the bridge under test.
#![allow(dead_code)]

pub mod bridge;
pub mod db;
pub mod synapse;
