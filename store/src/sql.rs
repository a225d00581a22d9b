//! How every statement of Djinn's is sent, so that it works behind a transaction-mode pooler
//! (PgBouncer, Neon's pooled endpoint) whatever the pooler's version.
//!
//! A transaction-mode pooler lends a server connection for one transaction and takes it back
//! at the next idle `ReadyForQuery`. sqlx's default, a named statement (`sqlx_s_N`) prepared
//! once and cached on the client connection, then breaks: the next transaction may run on a
//! server that never saw the statement, or that holds another client's statement under the
//! same name. PgBouncer 1.21+ can track named statements (`max_prepared_statements`); 1.18,
//! Debian's, cannot. So every statement is *unnamed* (`persistent(false)`: parsed, described,
//! bound and executed afresh), and every statement that carries parameters runs inside an
//! explicit transaction, which pins one server connection from `Parse` to `Execute`: sqlx
//! sends those in two exchanges, and between them, outside a transaction, the pooler could
//! hand the unnamed statement's server to another client. Statements without parameters that
//! run alone go as a simple query (`sqlx::raw_sql`), one message.
//!
//! The price is one round trip per statement (the `Parse`) and, for a statement that ran
//! alone, the `BEGIN` and `COMMIT` around it: docs/BENCHMARKS.md has the figure.
//! `tests/tests/sql_against_schema.rs` prepares every statement held here and in `djinn-ledger`
//! against the migrated schema, and `tests/tests/layering.rs` checks that no other path sends
//! one.

use sqlx::{
    FromRow, PgPool, Postgres,
    postgres::{PgArguments, PgRow},
    query::{Query, QueryAs, QueryScalar},
};

/// A statement, unnamed.
pub fn query<'q>(sql: &'static str) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql).persistent(false)
}

/// A statement whose rows are read as `O`, unnamed.
pub fn query_as<'q, O>(sql: &'static str) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).persistent(false)
}

/// A statement whose rows are one column of `O`, unnamed.
pub fn query_scalar<'q, O>(sql: &'static str) -> QueryScalar<'q, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(false)
}

/// The one value of a statement that runs on its own, inside a transaction of its own (see
/// the module's header), committed before it is returned. An error from the commit (a deferred
/// constraint) is the statement's error, as it would have been in autocommit.
pub async fn scalar_alone<'q, O>(
    pool: &PgPool,
    statement: QueryScalar<'q, Postgres, O, PgArguments>,
) -> Result<O, sqlx::Error>
where
    O: Send + Unpin,
    (O,): for<'r> FromRow<'r, PgRow>,
{
    let mut tx = pool.begin().await?;
    let value = statement.fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(value)
}
