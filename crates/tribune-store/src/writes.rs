//! State changes written in the same transaction as their ledger entry
//! ([`crate::SideRecord::Writes`]).
//!
//! A governance change (a stop, a vetting, an identity's new state) must never exist without the
//! entry that records it, nor the entry without the change. Each store module describes its
//! change as [`Write`]s (fixed SQL in the `$1, $2, ...` form both backends accept, and its
//! parameters); the ledger writer runs them inside the append transaction, so the change and its
//! entry commit together or not at all.

/// One parameter of a [`Write`]. `None` binds SQL `NULL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A `TEXT` value.
    Text(Option<String>),
    /// A `BIGINT` (`INTEGER` on SQLite) value.
    Int(Option<i64>),
    /// A `BYTEA` (`BLOB` on SQLite) value.
    Bytes(Option<Vec<u8>>),
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(Some(v))
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Param::Text(v)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Param::Text(v.map(str::to_owned))
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Self {
        Param::Text(v.clone())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<Vec<u8>> for Param {
    fn from(v: Vec<u8>) -> Self {
        Param::Bytes(Some(v))
    }
}

/// One SQL statement and its parameters. The SQL is `'static`: it is part of the program, never
/// built from input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub(crate) sql: &'static str,
    pub(crate) params: Vec<Param>,
}

impl Write {
    /// A statement with no parameters bound yet.
    pub fn new(sql: &'static str) -> Self {
        Write {
            sql,
            params: Vec::new(),
        }
    }

    /// Binds the next parameter (`$1`, then `$2`, ...).
    #[must_use]
    pub fn bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        self
    }
}

/// The statements one ledger entry carries, run in order inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writes {
    pub(crate) guard: Option<(Write, u64)>,
    pub(crate) statements: Vec<Write>,
}

impl Writes {
    /// Statements run unconditionally; any failure fails the append, and with it the change.
    pub fn of(statements: Vec<Write>) -> Self {
        Writes {
            guard: None,
            statements,
        }
    }

    /// A compare-and-set change: `guard` runs first and must change exactly `rows` rows (for
    /// example `UPDATE ... WHERE state = 'active'`). If it changes another number, nothing of
    /// this change is written and its entry is not appended ([`crate::Appended::Stale`]); the
    /// caller reads again and decides anew. Otherwise `then` runs as in [`Writes::of`].
    pub fn guarded(guard: Write, rows: u64, then: Vec<Write>) -> Self {
        Writes {
            guard: Some((guard, rows)),
            statements: then,
        }
    }
}

/// Runs one [`Write`] on an open transaction (either backend) and evaluates to its
/// `rows_affected()`.
macro_rules! execute_write {
    ($tx:ident, $write:expr) => {{
        let write: &$crate::writes::Write = $write;
        let mut query = sqlx::query(write.sql);
        for param in &write.params {
            query = match param {
                $crate::writes::Param::Text(v) => query.bind(v.clone()),
                $crate::writes::Param::Int(v) => query.bind(*v),
                $crate::writes::Param::Bytes(v) => query.bind(v.clone()),
            };
        }
        query.execute(&mut *$tx).await?.rows_affected()
    }};
}
pub(crate) use execute_write;
