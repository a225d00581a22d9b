//! `createRecurringTransfer`: parse the rule, store it under the user's key (or find the one
//! stored before), then create its Temporal Schedule (or find it created). Both steps are
//! idempotent, so a retried request after a crash between them completes the rule.

use super::{account_id, money_error};
use crate::schema::user_error::check;
use crate::schema::{
    CreateRecurringTransferInput, CreateRecurringTransferPayload, RecurrenceUnit,
    RecurringTransfer, UserError, internal,
};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{
    AMOUNT_MAX_MINOR, Description, IdempotencyKey, RecurringTransferId, RejectionCode, UserId,
};
use djinn_store::recurring::{self, Every, NewRule, Stored};

pub async fn create_recurring_transfer(
    app: &AppState,
    user: UserId,
    input: CreateRecurringTransferInput,
) -> Result<CreateRecurringTransferPayload> {
    let refused = |user_errors| {
        Ok(CreateRecurringTransferPayload {
            recurring_transfer: None,
            user_errors,
        })
    };
    let new = match parse(&input) {
        Ok(new) => new,
        Err(errors) => return refused(errors),
    };
    let rule = match recurring::store(&app.pool, user, &new)
        .await
        .map_err(internal)?
    {
        Stored::Rule(rule) => rule,
        Stored::UnknownTimeZone => {
            return refused(vec![UserError::new(
                &["input", "schedule", "timeZone"],
                "INVALID_TIME_ZONE",
                "not a time zone (an IANA name such as Europe/Berlin)",
            )]);
        }
        Stored::AccountNotFound => {
            return refused(vec![UserError::rejection(
                &["input"],
                RejectionCode::AccountNotFound,
                "both accounts must be the user's, in the amount's currency",
            )]);
        }
    };
    let stored = &rule.rule;
    let same = stored.from == new.from
        && stored.to == new.to
        && stored.amount == new.amount
        && stored.every == new.every
        && stored.start_date == new.start_date
        && stored.end_date == new.end_date
        && stored.time_zone == new.time_zone
        && stored.description == new.description;
    if !same {
        return refused(vec![UserError::new(
            &["input", "idempotencyKey"],
            RejectionCode::IdempotencyKeyReused.as_str(),
            "this idempotency key was used for another recurring transfer",
        )]);
    }
    djinn_temporal::schedules::create(
        &app.temporal,
        &app.task_queue,
        user,
        stored,
        app.approval_timeout,
    )
    .await
    .map_err(internal)?;
    Ok(CreateRecurringTransferPayload {
        recurring_transfer: Some(RecurringTransfer(*rule, Vec::new())),
        user_errors: vec![],
    })
}

fn parse(input: &CreateRecurringTransferInput) -> Result<NewRule, Vec<UserError>> {
    let mut errors = Vec::new();
    let key = check(
        IdempotencyKey::parse(&input.idempotency_key),
        &mut errors,
        &["input", "idempotencyKey"],
        RejectionCode::InvalidIdempotencyKey.as_str(),
    );
    let from = account_id(&input.from_account_id, "fromAccountId", &mut errors);
    let to = account_id(&input.to_account_id, "toAccountId", &mut errors);
    let amount = match input.amount.positive() {
        Ok(amount) if amount.amount_minor() <= AMOUNT_MAX_MINOR => Some(amount),
        Ok(_) => {
            errors.push(UserError::rejection(
                &["input", "amount", "amount"],
                RejectionCode::InvalidAmount,
                "the amount is larger than a single transfer may carry",
            ));
            None
        }
        Err(error) => {
            errors.push(money_error(error, &["input", "amount"]));
            None
        }
    };
    let description = check(
        Description::parse(input.description.as_deref().unwrap_or("")),
        &mut errors,
        &["input", "description"],
        RejectionCode::InvalidDescription.as_str(),
    );
    let every = every(input, &mut errors);
    if from.is_some() && from == to {
        errors.push(UserError::rejection(
            &["input", "toAccountId"],
            RejectionCode::SameAccount,
            "the source and destination accounts must differ",
        ));
    }
    let schedule = &input.schedule;
    if schedule
        .end_date
        .is_some_and(|end| end.0 < schedule.start_date.0)
    {
        errors.push(UserError::new(
            &["input", "schedule", "endDate"],
            "INVALID_SCHEDULE",
            "the end date is before the start date",
        ));
    }
    match (key, from, to, amount, description, every) {
        (Some(key), Some(from), Some(to), Some(amount), Some(description), Some(every))
            if errors.is_empty() =>
        {
            Ok(NewRule {
                id: RecurringTransferId::generate(),
                idempotency_key: key.as_str().to_owned(),
                from,
                to,
                amount,
                description: description.map(|d| d.as_str().to_owned()),
                every,
                start_date: schedule.start_date.0,
                end_date: schedule.end_date.map(|end| end.0),
                time_zone: schedule.time_zone.trim().to_owned(),
            })
        }
        _ => Err(errors),
    }
}

/// How often: a MONTH rule needs its day (1 to 31); the others take none.
fn every(input: &CreateRecurringTransferInput, errors: &mut Vec<UserError>) -> Option<Every> {
    let day = input.schedule.day_of_month;
    let wrong = |message: &str, errors: &mut Vec<UserError>| {
        errors.push(UserError::new(
            &["input", "schedule", "dayOfMonth"],
            "INVALID_SCHEDULE",
            message,
        ));
        None
    };
    match (input.schedule.every, day) {
        (RecurrenceUnit::Month, Some(day @ 1..=31)) => u8::try_from(day).ok().map(Every::Month),
        (RecurrenceUnit::Month, _) => wrong("a monthly transfer needs a day from 1 to 31", errors),
        (_, Some(_)) => wrong("only a monthly transfer takes a day of the month", errors),
        (RecurrenceUnit::Day, None) => Some(Every::Day),
        (RecurrenceUnit::Week, None) => Some(Every::Week),
    }
}
