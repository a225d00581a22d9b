//! The restore drill (docs/RUNBOOK.md): `djinn backup create` seals a consistent dump under
//! DJINN_BACKUP_KEY; `djinn backup restore` puts it into an empty database and checks the
//! ledger there. What is restored equals what was backed up, exactly; a tampered file, the
//! wrong key, or a database that is not empty restore nothing.

use djinn_domain::OperationId;
use djinn_store::users;
use djinn_tests::ledger_steps::{Step, account, balances, register_transfer, usd_transfer};
use djinn_tests::{djinn_binary, empty_database, fresh_database};
use sqlx::PgPool;
use std::path::{Path, PathBuf};

const KEY: &str = "backup-2026:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const SAME_ID_OTHER_BYTES: &str = "backup-2026:ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA=";
const OTHER_ID: &str = "backup-2027:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn pg_bin_dir() -> String {
    std::env::var("DJINN_TEST_PG_BIN_DIR").expect("DJINN_TEST_PG_BIN_DIR is set by make test")
}

/// `djinn backup <args>` with `key`: (success, stderr).
async fn backup(args: &[&str], database_url: &str, key: &str) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(djinn_binary()?)
        .arg("backup")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("DJINN_BACKUP_KEY", key)
        .env("DJINN_PG_BIN_DIR", pg_bin_dir())
        .env("DJINN_LOG_FORMAT", "json")
        .output()
        .await?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

async fn restore(file: &Path, into: &str, key: &str) -> anyhow::Result<(bool, String)> {
    let file = file.display().to_string();
    backup(
        &["restore", &file, "--into", into],
        "postgres://unused@127.0.0.1/unused",
        key,
    )
    .await
}

/// What a restore must reproduce: every balance, and the number of rows of each ledger table.
async fn snapshot(pool: &PgPool) -> anyhow::Result<(Vec<(uuid::Uuid, i64, i64, i64)>, Vec<i64>)> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "accounts",
        "operations",
        "transfers",
        "transactions",
        "postings",
        "_sqlx_migrations",
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(pool)
                .await?;
        counts.push(count);
    }
    Ok((balances(pool).await?, counts))
}

/// A ledger with a few hundred posted transfers and a few still reserved.
async fn busy_ledger(pool: &PgPool) -> anyhow::Result<()> {
    let user = users::ensure_user(pool, "alice").await?;
    let accounts = [
        account(pool, user, 5_000_000).await?,
        account(pool, user, 1_000_000).await?,
        account(pool, user, 1_000_000).await?,
    ];
    for i in 0..300_usize {
        let (from, to) = (accounts[i % 3], accounts[(i + 1) % 3]);
        let request = usd_transfer(from, to, 100 + i as i64)?;
        Step::AtOnce
            .complete(
                pool,
                OperationId::generate(),
                user,
                &format!("t-{i}"),
                &request,
            )
            .await?;
    }
    for i in 0..5 {
        let request = usd_transfer(accounts[0], accounts[1], 50)?;
        Step::Reserve
            .take(
                pool,
                OperationId::generate(),
                user,
                &format!("held-{i}"),
                &request,
            )
            .await?;
    }
    register_transfer(
        pool,
        user,
        OperationId::generate(),
        &usd_transfer(accounts[2], accounts[1], 7)?,
    )
    .await?;
    Ok(())
}

fn scratch_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("djinn-{}-{name}", uuid::Uuid::now_v7().simple()))
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_database_exactly_and_nothing_else_restores()
-> anyhow::Result<()> {
    let (source_url, source) = fresh_database().await?;
    busy_ledger(&source).await?;
    let file = scratch_file("backup");
    let out = file.display().to_string();
    // A key that is not id:base64(32 bytes) is named, and nothing is written.
    let (created, stderr) = backup(&["create", "--out", &out], &source_url, "k1:c2hvcnQ=").await?;
    assert!(
        !created && stderr.contains("DJINN_BACKUP_KEY must be id:base64(32 bytes)"),
        "{stderr}"
    );
    assert!(!file.exists());
    let (created, stderr) = backup(&["create", "--out", &out], &source_url, KEY).await?;
    assert!(created, "{stderr}");
    let sealed = std::fs::read(&file)?;
    assert!(sealed.starts_with(b"DJINNBK1"), "a sealed backup");
    assert!(
        !sealed.windows(5).any(|w| w == b"PGDMP"),
        "no plaintext dump inside"
    );
    assert!(!std::path::Path::new(&format!("{out}.partial")).exists());

    // Refused, and nothing restored: a flipped byte, the wrong key, another key's id.
    let tampered = scratch_file("tampered");
    let mut bytes = sealed.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&tampered, &bytes)?;
    let (target_url, target) = empty_database().await?;
    for (file, key, reason) in [
        (&tampered, KEY, "does not open"),
        (&file, SAME_ID_OTHER_BYTES, "does not open"),
        (&file, OTHER_ID, "sealed with key \"backup-2026\""),
    ] {
        let (restored, stderr) = restore(file, &target_url, key).await?;
        assert!(!restored && stderr.contains(reason), "{reason}: {stderr}");
        assert!(
            djinn_store::db::holds_nothing(&target).await?,
            "nothing was restored"
        );
    }

    let (restored, stderr) = restore(&file, &target_url, KEY).await?;
    assert!(restored, "{stderr}");
    assert_eq!(snapshot(&target).await?, snapshot(&source).await?);
    let (again, stderr) = restore(&file, &target_url, KEY).await?;
    assert!(!again && stderr.contains("not empty"), "{stderr}");

    for file in [file, tampered] {
        std::fs::remove_file(file)?;
    }
    Ok(())
}
