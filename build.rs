//! Link-time settings for the `trailhouse` binary.
//!
//! Release builds fold identical functions (`--icf=all`, lld's identical code folding) and
//! link a position-dependent executable (`-no-pie`, see below).
//! DataFusion, sqlparser and arrow instantiate the same generic code once per crate that
//! uses it (`Hash` of sqlparser's AST alone is in the binary dozens of times), and a
//! release build of rustc does not share generics across crates: without folding, about
//! two thirds of `.text` is byte-identical copies. Debug and profiling builds keep every
//! copy, so stack traces and profiles name the function that really ran.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let debug_info = std::env::var("DEBUG").is_ok_and(|d| d != "false" && d != "0" && d != "none");
    // rustc links x86_64 Linux binaries with its own lld; other linkers may not know the flag.
    let lld = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && !debug_info && lld {
        println!("cargo::rustc-link-arg-bins=-Wl,--icf=all");
        // A position-independent executable carries a dynamic relocation for every pointer
        // in its read-only data (vtables, string tables): 7.5 MB of `.rela.dyn` here. Linked
        // at a fixed address they are resolved once, at link time. (`-z pack-relative-relocs`
        // would keep PIE but needs glibc 2.36; Amazon Linux 2023 has 2.34.) Shared libraries,
        // heap and stack stay randomised.
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
