//! The host's side of ocalls: answering the enclave's state reads.

use crate::protocol::{Host, HostCall, HostReply};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::state::StateView;

/// Answers one encoded [`HostCall`] from `view`.
pub fn serve_ocall(view: &dyn StateView, request: &[u8]) -> Vec<u8> {
    let reply = match decode::<HostCall>(request, Limits::RECORD) {
        Err(e) => HostReply::Error(format!("bad host call: {e}")),
        Ok(HostCall::Get { namespace, key }) => match view.get(&namespace, &key) {
            Ok(v) => HostReply::Value(v),
            Err(e) => HostReply::Error(e.to_string()),
        },
        Ok(HostCall::Range { namespace, start, end, limit }) => {
            match view.range(&namespace, &start, &end, limit as usize) {
                Ok(v) => HostReply::Entries(v),
                Err(e) => HostReply::Error(e.to_string()),
            }
        }
        Ok(HostCall::History { namespace, key, limit }) => match view.history(&namespace, &key, limit as usize) {
            Ok(v) => HostReply::History(v),
            Err(e) => HostReply::Error(e.to_string()),
        },
    };
    encode(&reply)
}

/// A [`Host`] that answers from a state view (the in-process case).
pub struct ViewHost<'a, V: StateView + Sync>(pub &'a V);

impl<V: StateView + Sync> Host for ViewHost<'_, V> {
    fn ocall(&self, request: &[u8]) -> Vec<u8> {
        serve_ocall(self.0, request)
    }
}
