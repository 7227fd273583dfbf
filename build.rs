//! Records the git commit the binary is built from (and whether the tree had uncommitted
//! changes) for run summaries: `SWEEP_GIT_COMMIT`, `SWEEP_GIT_DIRTY`. Outside a git checkout
//! (a crates.io package, a tarball) both are empty and summaries say "commit unknown".

use std::process::Command;

/// What the binary is built from.
const SOURCES: [&str; 4] = ["build.rs", "src", "Cargo.toml", "Cargo.lock"];

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Rebuild the stamp when HEAD moves or the index changes (commits, checkouts, staging).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for f in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head_ref}");
        }
    }
    // ... and when the sources change, so the uncommitted-changes flag stays true.
    for p in SOURCES {
        println!("cargo:rerun-if-changed={p}");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    // Only what the binary is built from: results, experiments and docs that changed since the
    // commit do not make it another build.
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    let dirty = git(&status).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=SWEEP_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=SWEEP_GIT_DIRTY={}",
        if dirty { "1" } else { "0" }
    );
}
