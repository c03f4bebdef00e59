//! The host's side of ocalls: answering the enclave's state reads, public and private.

use crate::protocol::{Host, HostCall, HostReply};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::state::StateView;

/// Answers one encoded [`HostCall`] from `view` (private calls through its private-data
/// methods); a failed read is a [`HostReply::Error`].
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
        Ok(HostCall::PrivateGet { namespace, collection, key }) => {
            match view.private_get(&namespace, &collection, &key) {
                Ok(v) => HostReply::PrivateValue(v),
                Err(e) => HostReply::Error(e.to_string()),
            }
        }
        Ok(HostCall::PrivateRange { namespace, collection, start, end, limit }) => {
            match view.private_range(&namespace, &collection, &start, &end, limit as usize) {
                Ok(v) => HostReply::PrivateEntries(v),
                Err(e) => HostReply::Error(e.to_string()),
            }
        }
        Ok(HostCall::PrivateHash { namespace, collection, key_hash }) => {
            match view.private_hash(&namespace, &collection, &key_hash) {
                Ok(v) => HostReply::Hashed(v),
                Err(e) => HostReply::Error(e.to_string()),
            }
        }
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
