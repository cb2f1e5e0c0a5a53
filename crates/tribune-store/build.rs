//! Rebuilds the crate when a migration file is added: `sqlx::migrate!` embeds the files it finds
//! at compile time, and without this cargo would not notice a new file in `migrations/`.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
