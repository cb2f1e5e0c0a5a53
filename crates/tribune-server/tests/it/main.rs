//! Integration tests of `tribune-server`: real servers on port 0, over a real SQLite file and
//! a real PostgreSQL schema — never a mock database.
//!
//! Every case is an `async fn(Backend)` written once and run twice by `on_both_backends!`: on a
//! fresh SQLite file (`<module>::sqlite::<case>`) and on a fresh PostgreSQL schema
//! (`<module>::postgres::<case>`). The PostgreSQL runs need `TRIBUNE_TEST_POSTGRES_URL`;
//! without it they fail, they never skip.
//!
//! Every response any test receives goes through [`openapi::assert_conforms`] (called by
//! [`harness::TestServer::send`]): the served OpenAPI document is the contract the tests hold
//! the server to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Defines, for each named case, one test per backend running that case.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::harness::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::harness::Backend::Postgres).await;
                }
            )+
        }
    };
}

mod audit;
mod concurrency;
mod credentials;
mod decisions;
mod dlp;
mod drills;
mod harness;
mod health;
mod incidents;
mod oidc;
mod openapi;
mod providers;
mod records;
mod reload;
mod replicas;
mod stops;
mod taint;
mod tokens;
mod tools;
mod trust;
mod vetting;
