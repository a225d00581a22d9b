//! The commit the binary is built from, for `build_info{commit}`: DJINN_COMMIT when set (the
//! Dockerfiles pass it as a build argument, since the image's build context has no .git), else
//! what git says, else "unknown".

fn main() {
    println!("cargo:rerun-if-env-changed=DJINN_COMMIT");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    let commit = std::env::var("DJINN_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(|| {
            let output = std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DJINN_COMMIT={commit}");
}
