//! The commit the binary is built from, for `build_info{commit}`: DJINN_COMMIT, which CI and the
//! Dockerfiles pass (`--build-arg DJINN_COMMIT=$(git rev-parse --short=12 HEAD)`; the image's
//! build context has no .git), else "dev". Not read from git here: a build script that
//! watched .git would relink the release binary after every commit.

fn main() {
    println!("cargo:rerun-if-env-changed=DJINN_COMMIT");
    let commit = std::env::var("DJINN_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "dev".to_owned());
    println!("cargo:rustc-env=DJINN_COMMIT={commit}");
}
