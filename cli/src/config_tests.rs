//! The configuration's own tests: parsing, secrets from files, defaults.
use super::*;
use clap::Parser;

#[derive(Parser, Debug)]
struct Runtime {
    #[command(flatten)]
    runtime: RuntimeSettings,
}

#[test]
fn an_empty_secret_is_no_secret() -> anyhow::Result<()> {
    let empty = Some(SecretString::from(String::new()));
    assert!(secret(&empty, &None, "DJINN_OPS_TOKEN")?.is_none());
    let blank = Some(SecretString::from("  ".to_owned()));
    assert!(secret(&blank, &Some(PathBuf::new()), "DJINN_OPS_TOKEN")?.is_none());
    Ok(())
}

#[test]
fn the_environment_is_production_unless_it_says_development() {
    let parse = |args: &[&str]| {
        Runtime::try_parse_from(std::iter::once("djinn").chain(args.iter().copied()))
            .map(|parsed| parsed.runtime.environment)
    };
    // The test process may have DJINN_ENV set (make test does not): only flags here.
    if std::env::var_os("DJINN_ENV").is_none() {
        assert_eq!(parse(&[]).ok(), Some(Environment::Production));
    }
    assert_eq!(
        parse(&["--environment", "development"]).ok(),
        Some(Environment::Development)
    );
    assert_eq!(
        parse(&["--environment", "production"]).ok(),
        Some(Environment::Production)
    );
    let mistyped = parse(&["--environment", "prod"]).expect_err("prod is not an environment");
    assert!(
        mistyped
            .to_string()
            .contains("DJINN_ENV must be development or production, not \"prod\""),
        "{mistyped}"
    );
}

#[test]
fn secrets_come_from_the_environment_or_a_file() -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(format!("djinn-secret-{}", std::process::id()));
    std::fs::write(&path, "postgres://app:s3cret@db/djinn\n")?;
    let from_file = DatabaseSettings {
        database_url: None,
        database_url_file: Some(path.clone()),
        pool_size: 1,
        allow_plaintext: false,
    };
    assert_eq!(
        from_file.database_url()?.expose_secret(),
        "postgres://app:s3cret@db/djinn"
    );
    let both = DatabaseSettings {
        database_url: Some("x".to_owned().into()),
        database_url_file: Some(path.clone()),
        pool_size: 1,
        allow_plaintext: false,
    };
    assert!(both.database_url().is_err());
    let neither = DatabaseSettings {
        database_url: None,
        database_url_file: None,
        pool_size: 1,
        allow_plaintext: false,
    };
    assert!(neither.database_url().is_err());
    // A secret never shows in Debug output, where logs would pick it up.
    let direct = DatabaseSettings {
        database_url: Some("postgres://app:s3cret@db".to_owned().into()),
        database_url_file: None,
        pool_size: 1,
        allow_plaintext: false,
    };
    assert!(!format!("{direct:?}").contains("s3cret"));
    std::fs::remove_file(path)?;
    Ok(())
}
