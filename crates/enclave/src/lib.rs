//! TEEChain enclave.
