//! Sets up the linker arguments napi needs on macOS (none on Linux).
fn main() {
    napi_build::setup();
}
