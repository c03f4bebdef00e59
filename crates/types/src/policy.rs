//! Endorsement policies in Fabric's syntax (being written).
