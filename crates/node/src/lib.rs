//! TEEChain node.
