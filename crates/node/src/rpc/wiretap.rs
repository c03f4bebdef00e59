//! An optional capture of every gRPC message a node sends or receives, taken after TLS
//! decryption: with `TEECHAIN_WIRETAP_DIR=<dir>` in its environment, a node appends the
//! protobuf bytes of each message (length-prefixed) to `<dir>/<node name>.wire`.
//! Confidentiality tests search the capture for plaintext that must never reach a node;
//! the TLS bytes on the wire would show nothing either way.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the capture directory.
pub const WIRETAP_DIR_ENV: &str = "TEECHAIN_WIRETAP_DIR";

static TAP: OnceLock<Mutex<File>> = OnceLock::new();

/// Starts capturing for node `node` when the environment asks for it; returns the file.
pub fn start(node: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os(WIRETAP_DIR_ENV)?;
    let path = Path::new(&dir).join(format!("{node}.wire"));
    match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        Ok(f) => {
            let _ = TAP.set(Mutex::new(f));
            tracing::warn!(file = %path.display(), "capturing every gRPC message (wiretap for tests)");
            Some(path)
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot open the wiretap file");
            None
        }
    }
}

/// Records one message, if capture is on.
pub fn record<M: prost::Message>(message: &M) {
    if let Some(tap) = TAP.get() {
        let bytes = message.encode_to_vec();
        let mut f = tap.lock().unwrap_or_else(|p| p.into_inner());
        // A failed write loses capture, never a call.
        let _ = f.write_all(&(bytes.len() as u32).to_be_bytes()).and_then(|()| f.write_all(&bytes));
    }
}

/// Records a reply and wraps it.
pub fn reply<M: prost::Message>(message: M) -> tonic::Response<M> {
    record(&message);
    tonic::Response::new(message)
}
