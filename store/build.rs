//! The migrations are embedded in the binary (`sqlx::migrate!`): a new migration file must
//! rebuild this crate, which cargo does not know by itself.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
