//! Compiles the client protocol (`coord.proto`) with prost, using the vendored
//! `protoc` so that no system package is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.bytes(["."]);
    config.compile_protos(&["coord.proto"], &["."])?;
    println!("cargo:rerun-if-changed=coord.proto");
    Ok(())
}
