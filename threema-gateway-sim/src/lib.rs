//! Simulator of the Threema Gateway's side of the wire protocol. Filled in by the Threema issue.
