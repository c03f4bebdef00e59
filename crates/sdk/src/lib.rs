//! TEEChain sdk.
