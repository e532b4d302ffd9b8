//! The shipped modules are found by convention: every crate in `modules/<key>/` is
//! one, built to `<key>.wasm` by `cargo build-modules`. Their keys become
//! `mosaic::BUILTIN_MODULES`.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let modules = Path::new(&manifest_dir).join("../modules");
    println!("cargo::rerun-if-changed={}", modules.display());
    let mut keys: Vec<String> = std::fs::read_dir(&modules)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().join("Cargo.toml").is_file())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("set by cargo")).join("builtin_modules.rs");
    std::fs::write(&out, format!("&{keys:?}")).expect("writing the built-in module list");
}
