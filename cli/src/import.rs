//! `djinn import FILE --account ID`: an operator imports a statement file for the account's
//! owner, through the same registration and workflow as `importStatement`, and watches it with
//! a progress bar. The file is checked whole first: a refused file is named with its code and
//! nothing is stored. The key defaults to the file's SHA-256, so importing the same file again
//! finds the first import.

use crate::config::{CodecSettings, DatabaseSettings, RuntimeSettings, TemporalSettings};
use anyhow::{Context, bail};
use clap::Args;
use djinn_domain::{AccountId, StatementImportId};
use djinn_statements::{CsvProfile, Format};
use djinn_store::imports::{self, Checked, NewImport, Registered};
use djinn_store::{PgPool, db};
use djinn_workflows::ImportInput;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The statement file: CSV, OFX/QFX or CAMT.053.
    pub file: PathBuf,
    /// The account (its uuid) the statement belongs to.
    #[arg(long)]
    pub account: uuid::Uuid,
    /// csv, ofx or camt053; detected from the content when absent.
    #[arg(long)]
    pub format: Option<String>,
    /// For CSV: generic, de-giro, us-debit-credit, or a JSON mapping.
    #[arg(long, default_value = "generic")]
    pub csv_profile: String,
    /// The import's idempotency key; default: `file:<the file's SHA-256>`.
    #[arg(long)]
    pub key: Option<String>,
    #[command(flatten)]
    pub runtime: RuntimeSettings,
    #[command(flatten)]
    pub codec: CodecSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub temporal: TemporalSettings,
}

/// Imports the file and waits for the import to end; an error when it was refused or failed.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let content =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let format = match args.format.as_deref() {
        Some(name) => Format::parse(name).with_context(|| format!("unknown format {name}"))?,
        None => djinn_statements::detect(&content),
    };
    let profile = CsvProfile::named_or_json(&args.csv_profile).map_err(anyhow::Error::msg)?;
    let pool = db::connect(args.database.database_url()?.expose_secret(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    let account = AccountId::from_uuid(args.account);
    let owner = imports::account_owner(&pool, account)
        .await?
        .context("no such account")?;
    let currency = imports::account_currency(&pool, owner, account)
        .await?
        .context("no such account")?;
    let summary =
        djinn_statements::check(&content, format, &profile, currency).map_err(|refusal| {
            anyhow::anyhow!("the statement is refused: {}: {refusal}", refusal.code())
        })?;
    let sha256: [u8; 32] = Sha256::digest(&content).into();
    let key = args.key.clone().unwrap_or_else(|| {
        let hex: String = sha256.iter().map(|b| format!("{b:02x}")).collect();
        format!("file:{hex}")
    });
    let new = NewImport {
        id: StatementImportId::generate(),
        account,
        idempotency_key: key,
        format: format.as_str(),
        csv_profile: (format == Format::Csv).then(|| profile.to_json()),
        content,
        sha256,
        checked: Checked::new(
            summary.lines,
            summary.opening,
            summary.closing,
            summary.last_booked_on,
        ),
    };
    let import = match imports::register(&pool, owner, &new).await? {
        Registered::Created(import) | Registered::Existing(import) => import,
        Registered::AccountNotFound => bail!("no such account"),
    };
    let codec = args.codec.codec(&args.runtime)?;
    let client = djinn_temporal::connect_from_env("djinn-import", codec.as_ref()).await?;
    let id = StatementImportId::from_uuid(import.id);
    let start = ImportInput {
        import_id: id,
        user_id: owner,
    };
    djinn_temporal::starts::start_import(
        &client,
        &args.temporal.task_queue,
        &import.workflow_id,
        start,
    )
    .await?;
    watch(&pool, owner, id).await
}

/// Shows the import's progress until it ends.
async fn watch(
    pool: &PgPool,
    owner: djinn_domain::UserId,
    id: StatementImportId,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} lines {msg} ({elapsed})")
            .context("the progress bar's template")?,
    );
    loop {
        let import = imports::get(pool, owner, id)
            .await?
            .context("the import vanished")?;
        bar.set_length(u64::try_from(import.lines_total).unwrap_or(0));
        bar.set_position(u64::try_from(import.lines_done).unwrap_or(0));
        bar.set_message(format!(
            "{} matched, {} posted",
            import.lines_matched, import.lines_posted
        ));
        match import.status.as_str() {
            "completed" => {
                bar.finish();
                println!(
                    "imported {}: {} lines, {} matched, {} posted",
                    import.workflow_id,
                    import.lines_total,
                    import.lines_matched,
                    import.lines_posted
                );
                return Ok(());
            }
            "failed" => {
                bar.abandon();
                bail!(
                    "the import failed: {}: {}",
                    import.failure_code.unwrap_or_default(),
                    import.failure_message.unwrap_or_default()
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}
