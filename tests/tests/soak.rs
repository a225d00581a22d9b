//! The fault soak (`tests/src/soak`): operations from concurrent clients while the api and the
//! worker are killed with SIGKILL and Temporal and PostgreSQL restart. `make test` runs the
//! short one; `make soak` the long one (2,000 operations, 10 kills), which prints its report.

use djinn_tests::soak::{self, SoakConfig};

#[tokio::test]
async fn a_short_soak_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let report = soak::run(SoakConfig {
        operations: 200,
        clients: 4,
        kills: 3,
        seed: 7,
    })
    .await?;
    println!("{report}");
    assert_eq!(report.recoveries.len(), 5, "3 kills and 2 restarts");
    assert!(report.operations >= 200);
    Ok(())
}

#[tokio::test]
#[ignore = "several minutes: make soak"]
async fn the_soak_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let seed = std::env::var("DJINN_SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(2026);
    let report = soak::run(SoakConfig {
        operations: 2_000,
        clients: 16,
        kills: 10,
        seed,
    })
    .await?;
    println!("{report}");
    assert_eq!(report.recoveries.len(), 12, "10 kills and 2 restarts");
    Ok(())
}
