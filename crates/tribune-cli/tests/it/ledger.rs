//! The tamper-evident ledger end to end: real `tribune serve` processes on a real SQLite file
//! and a real PostgreSQL schema, tampered with directly in the database, killed with SIGKILL
//! under load, run as two replicas on one database, pruned by retention under legal holds, and
//! exported as C2SP tiles that an independent verifier (written from the specs alone) reads.

mod durability;
mod retention;
pub mod support;
mod tamper;
mod tiles;
