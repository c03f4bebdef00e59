//! The `teechain` command.
fn main() {}
