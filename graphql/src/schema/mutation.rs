//! The mutations: each delegates to its command (`crate::commands`), which parses the input,
//! registers the operation and starts its workflow.

use super::*;
use djinn_store::recurring::StatusChange;

#[derive(Debug)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Opens an account, posting the opening balance (if any) against the user's equity account.
    async fn open_account(
        &self,
        ctx: &Context<'_>,
        input: OpenAccountInput,
    ) -> Result<OpenAccountPayload> {
        let (app, user) = state(ctx)?;
        commands::open_account(app, user, input).await
    }

    /// Sets how far below zero an account may go (null or zero: not at all). Refused with
    /// OVERDRAFT_IN_USE when the account already uses more of its overdraft than that.
    async fn set_overdraft_limit(
        &self,
        ctx: &Context<'_>,
        input: SetOverdraftLimitInput,
    ) -> Result<SetOverdraftLimitPayload> {
        let (app, user) = state(ctx)?;
        commands::set_overdraft_limit(app, user, input).await
    }

    /// Starts a transfer between two of the user's accounts. Returns at once with the transfer
    /// PENDING; it becomes POSTED, or VOIDED with a failure code, moments later.
    async fn create_transfer(
        &self,
        ctx: &Context<'_>,
        input: CreateTransferInput,
    ) -> Result<CreateTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::create_transfer(app, user, input).await
    }

    /// Sets the amount, per currency, at or over which a transfer waits for the owner's
    /// approval; a null amount clears it. Transfers registered before keep the terms they had.
    async fn set_approval_threshold(
        &self,
        ctx: &Context<'_>,
        input: SetApprovalThresholdInput,
    ) -> Result<SetApprovalThresholdPayload> {
        let (app, user) = state(ctx)?;
        commands::set_approval_threshold(app, user, input).await
    }

    /// Approves a transfer AWAITING_APPROVAL: answers once it is POSTED. Approving it again
    /// answers the same; a transfer that awaits no approval is refused (NOT_AWAITING_APPROVAL).
    async fn approve_transfer(
        &self,
        ctx: &Context<'_>,
        input: ApproveTransferInput,
    ) -> Result<ApproveTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::approve_transfer(app, user, input).await
    }

    /// Cancels a transfer AWAITING_APPROVAL: answers once it is VOIDED (CANCELLED) and the
    /// money it held released.
    async fn cancel_transfer(
        &self,
        ctx: &Context<'_>,
        input: CancelTransferInput,
    ) -> Result<CancelTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::cancel_transfer(app, user, input).await
    }

    /// A transfer made again and again on a schedule (a Temporal Schedule per rule), each run
    /// a transfer of its own, at 09:00 in the rule's time zone.
    async fn create_recurring_transfer(
        &self,
        ctx: &Context<'_>,
        input: CreateRecurringTransferInput,
    ) -> Result<CreateRecurringTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::create_recurring_transfer(app, user, input).await
    }

    /// Reverses a POSTED transfer with a transfer the other way, run as a workflow of its own:
    /// the original stays POSTED and gains `reversedBy`. A transfer is reversed once
    /// (ALREADY_REVERSED); the account the money returns from must be able to pay.
    async fn reverse_transfer(
        &self,
        ctx: &Context<'_>,
        input: ReverseTransferInput,
    ) -> Result<ReverseTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::reverse_transfer(app, user, input).await
    }

    /// Pauses a recurring transfer: no run pays until it is resumed.
    async fn pause_recurring_transfer(
        &self,
        ctx: &Context<'_>,
        input: ChangeRecurringTransferInput,
    ) -> Result<RecurringTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::change_recurring_status(app, user, &input.id, StatusChange::Pause).await
    }

    /// Resumes a paused recurring transfer from its next scheduled run.
    async fn resume_recurring_transfer(
        &self,
        ctx: &Context<'_>,
        input: ChangeRecurringTransferInput,
    ) -> Result<RecurringTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::change_recurring_status(app, user, &input.id, StatusChange::Resume).await
    }

    /// Deletes a recurring transfer and its schedule; its past runs stay as they were.
    async fn delete_recurring_transfer(
        &self,
        ctx: &Context<'_>,
        input: ChangeRecurringTransferInput,
    ) -> Result<RecurringTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::change_recurring_status(app, user, &input.id, StatusChange::Delete).await
    }

    /// Imports a bank statement file (a multipart upload), as a workflow that writes its
    /// lines in batches: each line once per account, clearing a matching entry made in Djinn
    /// or posted against the external clearing account. A malformed, unbalanced or
    /// foreign-currency file is refused whole (MALFORMED_STATEMENT, STATEMENT_UNBALANCED,
    /// CURRENCY_MISMATCH).
    async fn import_statement(
        &self,
        ctx: &Context<'_>,
        input: ImportStatementInput,
    ) -> Result<ImportStatementPayload> {
        let (app, user) = state(ctx)?;
        let upload = input.file.value(ctx).map_err(internal)?;
        commands::import_statement(app, user, upload, input).await
    }

    /// Reconciles an account's statements with its ledger over a period, as a workflow: the
    /// run answers RUNNING, then reads COMPLETED with what it found.
    async fn reconcile_account(
        &self,
        ctx: &Context<'_>,
        input: ReconcileAccountInput,
    ) -> Result<ReconcileAccountPayload> {
        let (app, user) = state(ctx)?;
        commands::reconcile_account(app, user, input).await
    }
}
