//! Embeds every rule file of `packs/trailhouse/` (the built-in pack) and `packs/sigma/` (SigmaHQ's CloudTrail
//! rules and their tests) into the library.
use std::fmt::Write;
use std::path::Path;

/// `(file name, include_str!(path))` lines for the files of `dir` whose name ends with one
/// of `suffixes`, sorted.
fn embed(out: &mut String, dir: &Path, suffixes: &[&str]) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| suffixes.iter().any(|s| n.ends_with(s)))
        .collect();
    names.sort();
    for n in names {
        let path = dir.join(&n);
        println!("cargo:rerun-if-changed={}", path.display());
        // Writing to a String cannot fail.
        let _ = writeln!(out, "    ({n:?}, include_str!({:?})),", path.display().to_string());
    }
}

fn main() {
    // The manifest directory as cargo gives it to this run, not as it was when the script
    // was compiled: a target directory reused by another checkout must read that
    // checkout's rules.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest);
    let mut out = String::from("/// Built-in rule files.\npub const BUILTIN_RULES: &[(&str, &str)] = &[\n");
    embed(&mut out, &root.join("packs/trailhouse"), &[".toml"]);
    out.push_str("];\n/// SigmaHQ's CloudTrail rules (`*.yml`) and their tests (`*.tests.toml`).\npub const BUILTIN_SIGMA: &[(&str, &str)] = &[\n");
    embed(&mut out, &root.join("packs/sigma"), &[".yml", ".tests.toml"]);
    out.push_str("];\n");
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let dest = Path::new(&out_dir).join("builtin_rules.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
