//! Build script of libcoord: gives the shared library its soname,
//! `libcoord.so.<major>` (the crate's major version), so programs linked
//! against it load any later library of the same major version. Only the
//! cdylib gets the argument; the static library and the rlib are untouched.
//! It must not generate code or the header (ffi/generate-header.sh does).

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcoord.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
