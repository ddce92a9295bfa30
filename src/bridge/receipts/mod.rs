//! Delivery status, both ways: a phone's receipts shown on the desk (`to_matrix`), and the
//! desk's reading told to the phone (`to_threema`).

mod to_matrix;
mod to_threema;
