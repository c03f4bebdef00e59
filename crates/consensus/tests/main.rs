//! Integration tests of the ordering service: in-process clusters over the in-memory
//! fakes of `teechain_consensus::testing`; no network, no processes.

/// A three-node cluster: election, ordering, forwarding, failover, restart, membership.
mod cluster;
