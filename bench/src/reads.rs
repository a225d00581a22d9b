#![allow(clippy::float_arithmetic)] // Rates and percentiles of a benchmark, never amounts of money.
//! The read phase: a signed-in client reads one account with its balance and its 50 newest
//! entries through GraphQL, at concurrency 32, against the same reads made with the same SQL
//! (the store's `accounts::get` and `entries::list`, row-level security on) over a raw pool of
//! the same size: the floor. The data is the bench's own, written straight into the tables (as
//! the owner, past the ledger's triggers): 1,000 accounts of 100 users, 1,000,000 postings and
//! their history rows, each account with 1,000 entries. Printed: requests/s and p99 of both,
//! and their ratio (target: GraphQL at least 50 % of the floor).

use crate::report::{millis, percentile};
use djinn_client::Client;
use djinn_domain::{AccountId, UserId};
use djinn_graphql::schema::ids::{self, NodeType};
use djinn_store::entries::{self, EntryPage};
use djinn_store::{PgPool, accounts, db};
use futures::StreamExt;
use std::time::{Duration, Instant};

const USERS: usize = 100;
const ACCOUNTS_PER_USER: usize = 10;
/// Entries per account; accounts move money in pairs, one transaction two postings.
const ENTRIES_PER_ACCOUNT: usize = 1_000;
const CONCURRENCY: usize = 32;
const READS: usize = 4_000;
const PAGE: i64 = 50;

const READ_ACCOUNT: &str = r#"query($id: ID!) { account(id: $id) {
  id balance { amount currency } availableBalance { amount }
  entries(first: 50) { edges { node {
    id amount { amount currency } balanceAfter { amount } status kind description postedAt } } }
} }"#;

/// The statements that write the read phase's data, in one transaction as the owner; `$1`,
/// where a statement has it, is the run's prefix of the users' Firebase uids.
const GENERATE: [&str; 8] = [
    "INSERT INTO users (id, firebase_uid)
     SELECT gen_random_uuid(), $1 || '-' || u FROM generate_series(0, 99) u",
    "INSERT INTO accounts (id, user_id, name, kind, currency, overdraft_limit_minor)
     SELECT gen_random_uuid(), u.id, 'Read ' || a, 'checking', 'USD', 1000000000000
       FROM users u CROSS JOIN generate_series(0, 9) a WHERE u.firebase_uid LIKE $1 || '-%'",
    "INSERT INTO account_balances (account_id, user_id, floor_minor)
     SELECT a.id, a.user_id, -1000000000000 FROM accounts a JOIN users u ON u.id = a.user_id
      WHERE u.firebase_uid LIKE $1 || '-%'",
    "CREATE TEMP TABLE bench_moves ON COMMIT DROP AS
     WITH numbered AS (
         SELECT a.id, a.user_id, row_number() OVER (PARTITION BY a.user_id ORDER BY a.id) - 1 AS k
           FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.firebase_uid LIKE $1 || '-%')
     SELECT gen_random_uuid() AS tx, x.user_id, x.id AS a, y.id AS b, g AS seq,
            ((g % 7) + 1) * 100 * (CASE WHEN g % 2 = 0 THEN 1 ELSE -1 END) AS amount
       FROM numbered x JOIN numbered y ON y.user_id = x.user_id AND x.k % 2 = 0 AND y.k = x.k + 1
      CROSS JOIN generate_series(1, 1000) g",
    "INSERT INTO transactions (id, user_id, kind, status, idempotency_key, description, created_at, updated_at)
     SELECT tx, user_id, 'adjustment', 'posted', 'read-' || tx, 'entry ' || seq,
            now() - interval '1 second' * (1000 - seq), now() - interval '1 second' * (1000 - seq)
       FROM bench_moves",
    "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
     SELECT gen_random_uuid(), tx, user_id, a, amount, 'USD' FROM bench_moves
     UNION ALL
     SELECT gen_random_uuid(), tx, user_id, b, -amount, 'USD' FROM bench_moves",
    "INSERT INTO account_entries (posting_id, account_id, user_id, transaction_id, position, status,
                                  balance_after_minor, posted_at)
     SELECT p.id, p.account_id, p.user_id, p.transaction_id, row_number() OVER w, 'posted',
            sum(p.amount_minor) OVER w, m.seq * interval '1 second' + now()
       FROM bench_moves m JOIN postings p ON p.transaction_id = m.tx
     WINDOW w AS (PARTITION BY p.account_id ORDER BY m.seq)",
    "UPDATE account_balances b SET posted_minor = s.total, entry_seq = s.entries
       FROM (SELECT p.account_id, sum(p.amount_minor) AS total, count(*) AS entries
               FROM bench_moves m JOIN postings p ON p.transaction_id = m.tx
              GROUP BY p.account_id) s
      WHERE b.account_id = s.account_id",
];

/// Writes the data, then measures both sides twice, interleaved, and prints the figures.
pub async fn run(api: &str, database_url: &str, http: &reqwest::Client) -> anyhow::Result<()> {
    let prefix = format!("bench-read-{}", uuid::Uuid::now_v7().simple());
    let started = Instant::now();
    generate(database_url, &prefix).await?;
    println!(
        "  read data: {} accounts, {} postings written in {:.1} s",
        USERS * ACCOUNTS_PER_USER,
        USERS * ACCOUNTS_PER_USER * ENTRIES_PER_ACCOUNT,
        started.elapsed().as_secs_f64()
    );
    let pool = db::connect(database_url, CONCURRENCY as u32).await?;
    let targets = targets(&pool, &prefix).await?;
    let clients: Vec<Client> = (0..USERS)
        .map(|u| Client::new(api, &format!("{prefix}-{u}"), http.clone()))
        .collect();
    let mut graphql = Vec::new();
    let mut floor = Vec::new();
    let (mut graphql_time, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..2 {
        let started = Instant::now();
        floor.extend(read_floor(&pool, &targets).await?);
        floor_time += started.elapsed();
        let started = Instant::now();
        graphql.extend(read_graphql(&clients, &targets).await?);
        graphql_time += started.elapsed();
    }
    print(&mut graphql, graphql_time, &mut floor, floor_time);
    Ok(())
}

async fn generate(database_url: &str, prefix: &str) -> anyhow::Result<()> {
    let pool = db::connect(database_url, 1).await?;
    let mut tx = pool.begin().await?;
    // Past the ledger's triggers: the rows are written whole, as the steps would leave them.
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    for statement in GENERATE {
        sqlx::query(statement)
            .bind(prefix)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    Ok(())
}

/// Each account with its owner: (the user's index, the user, the account).
async fn targets(pool: &PgPool, prefix: &str) -> anyhow::Result<Vec<(usize, UserId, AccountId)>> {
    let rows: Vec<(String, uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
        "SELECT u.firebase_uid, u.id, a.id FROM users u JOIN accounts a ON a.user_id = u.id
          WHERE u.firebase_uid LIKE $1 || '-%' ORDER BY a.id",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(uid, user, account)| {
            let index = uid.rsplit('-').next().unwrap_or_default().parse()?;
            Ok((
                index,
                UserId::from_uuid(user),
                AccountId::from_uuid(account),
            ))
        })
        .collect()
}

async fn read_floor(
    pool: &PgPool,
    targets: &[(usize, UserId, AccountId)],
) -> anyhow::Result<Vec<Duration>> {
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..READS / 2)
        .map(|i| {
            let (_, user, account) = targets[(i * 7919) % targets.len()];
            async move {
                let started = Instant::now();
                let page = EntryPage::Older {
                    before: None,
                    limit: PAGE + 1,
                };
                let (read, entries) = tokio::try_join!(
                    accounts::get(pool, user, account),
                    entries::list(pool, user, account, page)
                )?;
                anyhow::ensure!(read.is_some() && entries.len() as i64 == PAGE + 1);
                Ok(started.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn read_graphql(
    clients: &[Client],
    targets: &[(usize, UserId, AccountId)],
) -> anyhow::Result<Vec<Duration>> {
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..READS / 2)
        .map(|i| {
            let (owner, _, account) = targets[(i * 7919) % targets.len()];
            let client = &clients[owner];
            async move {
                let id = ids::encode(NodeType::Account, account.as_uuid());
                let started = Instant::now();
                let data = client
                    .data(READ_ACCOUNT, serde_json::json!({ "id": id }))
                    .await?;
                let edges = data["account"]["entries"]["edges"].as_array().map(Vec::len);
                anyhow::ensure!(edges == Some(PAGE as usize), "a short page: {data}");
                Ok(started.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

fn print(
    graphql: &mut [Duration],
    graphql_time: Duration,
    floor: &mut [Duration],
    floor_time: Duration,
) {
    graphql.sort();
    floor.sort();
    let rate =
        |count: usize, time: Duration| count as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE);
    let (graphql_rate, floor_rate) = (
        rate(graphql.len(), graphql_time),
        rate(floor.len(), floor_time),
    );
    println!(
        "  reads through GraphQL       {graphql_rate:8.1} requests/s (p50 {}, p99 {}; an account, its balance and its 50 newest entries, {CONCURRENCY} at once)",
        millis(percentile(graphql, 50.0)),
        millis(percentile(graphql, 99.0))
    );
    println!(
        "  the same SQL, raw pool      {floor_rate:8.1} requests/s (p50 {}, p99 {})",
        millis(percentile(floor, 50.0)),
        millis(percentile(floor, 99.0))
    );
    println!(
        "  reads ratio to the floor    {:8.1} %  (target >= 50 %)",
        100.0 * graphql_rate / floor_rate
    );
}
