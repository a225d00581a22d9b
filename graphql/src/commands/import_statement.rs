//! `importStatement`: read the uploaded file whole (a malformed, unbalanced or foreign-currency
//! file is a userError, and nothing is stored), store it with its import under the user's key
//! (or find the import the key registered), then start the import workflow, which writes the
//! lines in batches. The upload's size is bounded by the multipart limit (`server`).

use super::account_id;
use crate::schema::user_error::check;
use crate::schema::{
    ImportStatementInput, ImportStatementPayload, StatementImport, UserError, internal,
};
use crate::server::AppState;
use async_graphql::{Result, UploadValue};
use djinn_domain::{AccountId, Currency, IdempotencyKey, RejectionCode, StatementImportId, UserId};
use djinn_statements::{CsvProfile, Format};
use djinn_store::imports::{self, Checked, NewImport, Registered};
use djinn_workflows::ImportInput;
use sha2::{Digest, Sha256};
use std::io::Read;

pub async fn import_statement(
    app: &AppState,
    user: UserId,
    upload: UploadValue,
    input: ImportStatementInput,
) -> Result<ImportStatementPayload> {
    let refused = |user_errors| {
        Ok(ImportStatementPayload {
            statement_import: None,
            user_errors,
        })
    };
    let (key, account, profile) = match parse(&input) {
        Ok(parsed) => parsed,
        Err(errors) => return refused(errors),
    };
    let Some(currency) = imports::account_currency(&app.pool, user, account)
        .await
        .map_err(internal)?
    else {
        return refused(vec![no_account()]);
    };
    let given_format = input.format.map(|format| format.format());
    let profile_json = profile.to_json();
    let file = match checked(upload, given_format, profile, currency).await? {
        Ok(file) => file,
        Err(refusal) => return refused(vec![refusal]),
    };
    let new = NewImport {
        id: StatementImportId::generate(),
        account,
        idempotency_key: key.as_str().to_owned(),
        format: file.format.as_str(),
        csv_profile: (file.format == Format::Csv).then_some(profile_json),
        sha256: file.sha256,
        content: file.content,
        checked: file.checked,
    };
    let import = match imports::register(&app.pool, user, &new)
        .await
        .map_err(internal)?
    {
        Registered::Created(import) => import,
        Registered::Existing(import) => {
            let same = import.sha256 == new.sha256
                && import.account_id == account.as_uuid()
                && import.format == new.format
                && import.csv_profile == new.csv_profile;
            if !same {
                return refused(vec![UserError::new(
                    &["input", "idempotencyKey"],
                    RejectionCode::IdempotencyKeyReused.as_str(),
                    "this idempotency key was used for another import",
                )]);
            }
            import
        }
        Registered::AccountNotFound => return refused(vec![no_account()]),
    };
    let start = ImportInput {
        import_id: StatementImportId::from_uuid(import.id),
        user_id: user,
    };
    djinn_temporal::starts::start_import(
        &app.temporal,
        &app.task_queue,
        &import.workflow_id,
        start,
    )
    .await
    .map_err(internal)?;
    Ok(ImportStatementPayload {
        statement_import: Some(StatementImport(*import)),
        user_errors: vec![],
    })
}

/// The key, the account and the CSV profile of the input, or every problem with them.
fn parse(
    input: &ImportStatementInput,
) -> Result<(IdempotencyKey, AccountId, CsvProfile), Vec<UserError>> {
    let mut errors = Vec::new();
    let key = check(
        IdempotencyKey::parse(&input.idempotency_key),
        &mut errors,
        &["input", "idempotencyKey"],
        RejectionCode::InvalidIdempotencyKey.as_str(),
    );
    let account = account_id(&input.account_id, "accountId", &mut errors);
    let named = input.csv_profile.as_deref().unwrap_or("generic");
    let profile = match CsvProfile::named_or_json(named) {
        Ok(profile) => Some(profile),
        Err(message) => {
            errors.push(UserError::new(
                &["input", "csvProfile"],
                "INVALID_CSV_PROFILE",
                message,
            ));
            None
        }
    };
    match (key, account, profile) {
        (Some(key), Some(account), Some(profile)) if errors.is_empty() => {
            Ok((key, account, profile))
        }
        _ => Err(errors),
    }
}

/// An upload read and checked whole: what its import is registered with.
struct ReadFile {
    content: Vec<u8>,
    sha256: [u8; 32],
    format: Format,
    /// What the read found, kept with the import so the worker does not read it whole again.
    checked: Option<Checked>,
}

/// The uploaded file, read, hashed and checked whole off the async threads, or the refusal
/// (MALFORMED_STATEMENT, STATEMENT_UNBALANCED, CURRENCY_MISMATCH).
async fn checked(
    upload: UploadValue,
    format: Option<Format>,
    profile: CsvProfile,
    currency: Currency,
) -> Result<Result<ReadFile, UserError>> {
    let read = tokio::task::spawn_blocking(move || {
        // Read into a buffer of its size, not one grown (and copied) as the file is read.
        let size = usize::try_from(upload.size()?).unwrap_or(0);
        let mut content = Vec::with_capacity(size);
        upload.into_read().read_to_end(&mut content)?;
        let format = format.unwrap_or_else(|| djinn_statements::detect(&content));
        let read = djinn_statements::check(&content, format, &profile, currency);
        Ok::<_, std::io::Error>(read.map(|summary| ReadFile {
            sha256: Sha256::digest(&content).into(),
            content,
            format,
            checked: Checked::new(
                summary.lines,
                summary.opening,
                summary.closing,
                summary.last_booked_on,
            ),
        }))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(read
        .map_err(|refusal| UserError::new(&["input", "file"], refusal.code(), refusal.to_string())))
}

fn no_account() -> UserError {
    UserError::rejection(
        &["input", "accountId"],
        RejectionCode::AccountNotFound,
        "no such account",
    )
}
