//! Every redb table of the Raft log store (`raft.redb` in the raft directory), in one
//! place. The ledger lives in its own file, owned by the node.

use redb::TableDefinition;

/// Log index → encoded `openraft::Entry`: a block proposal, a membership change or a
/// blank entry. Holds the entries after the last purged one, without holes.
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");

/// Single values under [`meta`] keys.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

/// Keys of [`META`].
pub(crate) mod meta {
    /// The last vote cast or granted: encoded `openraft::Vote`, written durably before
    /// the vote is acted on.
    pub(crate) const VOTE: &str = "vote";
    /// The last committed log id known to this node: encoded `Option<LogId>`. A hint
    /// written without its own fsync: after a crash it may lag, never lead.
    pub(crate) const COMMITTED: &str = "committed";
    /// The last purged log id: encoded `Option<LogId>`. Entries up to it are gone (they
    /// are in the state machine and in a snapshot).
    pub(crate) const LAST_PURGED: &str = "last_purged";
}
