//! TEEChain chaincode-runtime.
