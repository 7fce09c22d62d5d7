//! Compiles the durable records (`proto/storage.proto`) and the peer protocol
//! (`proto/peer.proto`, which reuses the durable log entry) with prost, using
//! the vendored `protoc` so that no system package is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut storage = prost_build::Config::new();
    storage.protoc_executable(&protoc);
    storage.bytes(["."]);
    storage.compile_protos(&["proto/storage.proto"], &["proto"])?;
    let mut peer = prost_build::Config::new();
    peer.protoc_executable(&protoc);
    peer.bytes(["."]);
    peer.extern_path(".coord.storage.v1", "crate::storage");
    peer.compile_protos(&["proto/peer.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
