//! TEEChain crypto.
