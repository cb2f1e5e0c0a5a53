//! `tribune init DIR`: write a commented starter bundle.

use std::path::PathBuf;

use crate::exit;

/// Arguments of `tribune init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to create the bundle in (must not already contain a `tribune.toml`).
    pub dir: PathBuf,
}

/// The starter bundle: the quick-start example shipped in the repository.
pub const FILES: &[(&str, &str)] = &[
    (
        "tribune.toml",
        include_str!("../../../../examples/quickstart/tribune.toml"),
    ),
    (
        "policies/support.cedar",
        include_str!("../../../../examples/quickstart/policies/support.cedar"),
    ),
];

/// Writes the starter bundle into `dir`.
pub fn write(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("policies"))?;
    for (path, text) in FILES {
        std::fs::write(dir.join(path), text)?;
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: Args) -> u8 {
    if args.dir.join("tribune.toml").exists() {
        eprintln!(
            "error: `{}` already holds a bundle; refusing to overwrite it",
            args.dir.display()
        );
        return exit::FAILURE;
    }
    if let Err(e) = write(&args.dir) {
        eprintln!(
            "error: cannot write the bundle into `{}`: {e}",
            args.dir.display()
        );
        return exit::FAILURE;
    }
    println!("wrote a starter bundle to {}", args.dir.display());
    println!(
        "next: edit {}/tribune.toml, then run `tribune check {}`",
        args.dir.display(),
        args.dir.display()
    );
    exit::OK
}
