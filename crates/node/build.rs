//! Generates the gRPC code of `proto/teechain.proto`: protox compiles the file in pure Rust
//! (no `protoc` on the machine), tonic-prost-build turns the descriptors into Rust.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["teechain.proto"], ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
