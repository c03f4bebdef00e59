//! Builds the contracts workspace (`<repo>/contracts`) for `wasm32-unknown-unknown` and
//! copies each contract's `.wasm` into `OUT_DIR`, where `src/lib.rs` embeds it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Contracts embedded by `src/lib.rs` (their .wasm file names: package names with `-`
/// replaced by `_`).
const CONTRACTS: &[&str] = &["asset_transfer", "auction", "payment", "testbed"];
const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("crates/contracts lies two levels below the repository root")
        .to_path_buf();
    let contracts = repo.join("contracts");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    rerun_if_changed(&contracts);
    println!("cargo:rerun-if-changed={}", repo.join("crates/sdk").display());
    println!("cargo:rerun-if-changed={}", repo.join("crates/types").display());
    println!("cargo:rerun-if-changed={}", repo.join("rust-toolchain.toml").display());

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    check_target_installed(&rustc);

    let target_dir = out_dir.join("wasm-target");
    let mut cmd = Command::new(&cargo);
    // From inside the contracts workspace, so that its .cargo/config.toml applies.
    cmd.current_dir(&contracts)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(contracts.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy-driver, coverage, sanitizers, a
    // host --target) do not apply to the nested wasm build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CLIPPY_ARGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run {} to build the contracts: {e}", Path::new(&cargo).display()));
    if !status.success() {
        panic!(
            "building the contracts for {TARGET} failed ({status}); run \
             `cargo build --release --target {TARGET} --manifest-path contracts/Cargo.toml` \
             to see why (and `rustup target add {TARGET}` if the target is missing)"
        );
    }

    for name in CONTRACTS {
        let built = target_dir.join(TARGET).join("release").join(format!("{name}.wasm"));
        let dest = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&built, &dest)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), dest.display()));
    }
}

/// Watches the contracts workspace, but not build output inside it.
fn rerun_if_changed(contracts: &Path) {
    let entries = std::fs::read_dir(contracts).unwrap_or_else(|e| panic!("reading {}: {e}", contracts.display()));
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || (name.starts_with('.') && name != ".cargo") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
}

/// Installs the standard library for the wasm target with rustup when it is missing (a
/// toolchain installed before rust-toolchain.toml listed the target lacks it, and rustup
/// does not add targets to an installed toolchain); fails with instructions when it
/// cannot.
fn check_target_installed(rustc: &std::ffi::OsStr) {
    if target_installed(rustc) {
        return;
    }
    // Under rustup, RUSTUP_TOOLCHAIN names the toolchain this build runs with.
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    match add.status() {
        Ok(s) if s.success() && target_installed(rustc) => {
            println!("cargo:warning=installed the Rust standard library for {TARGET} with rustup");
        }
        outcome => panic!(
            "the Rust standard library for {TARGET} is not installed and `rustup target add {TARGET}` \
             did not install it ({}); install it for this toolchain and build again",
            match outcome {
                Ok(s) => s.to_string(),
                Err(e) => format!("rustup: {e}"),
            }
        ),
    }
}

/// True when `rustc` finds the standard library for the wasm target.
fn target_installed(rustc: &std::ffi::OsStr) -> bool {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
            has_std(Path::new(&dir))
        }
        _ => false,
    }
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        .unwrap_or(false)
}
