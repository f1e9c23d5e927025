//! Finds an installed libqwen: QWEN_LIB_DIR (and QWEN_INCLUDE_DIR for the header) when set,
//! else the `pkg-config` command (PKG_CONFIG_PATH as usual). No crate involved.
//!
//! The `extern "C"` declarations in src/ffi.rs are written by hand against ABI version 0 of
//! include/qwen/qwen.h, so the build reads the installed header and stops with a clear
//! message when it declares another ABI version: a mismatch would otherwise be memory
//! corruption at run time, not a build error.
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ABI_VERSION: u32 = 0;

fn main() {
    for var in ["QWEN_LIB_DIR", "QWEN_INCLUDE_DIR", "PKG_CONFIG_PATH", "PKG_CONFIG"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let (lib_dirs, include_dir) = match env::var_os("QWEN_LIB_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let include = env::var_os("QWEN_INCLUDE_DIR").map(PathBuf::from).unwrap_or_else(|| dir.join("../include"));
            (vec![dir], include)
        }
        None => from_pkg_config(),
    };

    check_header(&include_dir.join("qwen/qwen.h"));
    for dir in &lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        // The crate's own tests and examples find the library where it was linked from
        // (rustc-link-arg reaches only this package's binaries, never a dependent's).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=qwen");
    // Dependent build scripts see these as DEP_QWEN_LIB_DIR / DEP_QWEN_INCLUDE_DIR.
    if let Some(dir) = lib_dirs.first() {
        println!("cargo:lib_dir={}", dir.display());
    }
    println!("cargo:include_dir={}", include_dir.display());
}

fn pkg_config(args: &[&str]) -> String {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out =
        Command::new(&program).args(args).arg("qwen").output().unwrap_or_else(|e| {
            panic!("libqwen: cannot run `{program}` ({e}); install pkg-config or set QWEN_LIB_DIR")
        });
    if !out.status.success() {
        panic!(
            "libqwen: `{program} {} qwen` failed: {}set PKG_CONFIG_PATH to the folder of qwen.pc, or QWEN_LIB_DIR",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("pkg-config output is not UTF-8")
}

fn from_pkg_config() -> (Vec<PathBuf>, PathBuf) {
    let libs = pkg_config(&["--libs-only-L"]);
    // qwen.pc's paths are relative to its own folder (lib/pkgconfig/../..): canonical paths
    // make a readable rpath.
    let lib_dirs = libs
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-L"))
        .map(|d| fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d)))
        .collect();
    let include = pkg_config(&["--variable=includedir"]);
    (lib_dirs, PathBuf::from(include.trim()))
}

fn check_header(header: &Path) {
    println!("cargo:rerun-if-changed={}", header.display());
    let text = fs::read_to_string(header)
        .unwrap_or_else(|e| panic!("libqwen: cannot read {} ({e}); set QWEN_INCLUDE_DIR", header.display()));
    let abi = text
        .lines()
        .find_map(|l| l.strip_prefix("#define QWEN_ABI_VERSION"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or_else(|| panic!("libqwen: no QWEN_ABI_VERSION in {}", header.display()));
    if abi != ABI_VERSION {
        panic!(
            "libqwen: {} declares ABI version {abi}, these bindings are written for {ABI_VERSION}",
            header.display()
        );
    }
}
