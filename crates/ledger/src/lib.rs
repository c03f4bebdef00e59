//! TEEChain ledger.
