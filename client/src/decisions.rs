//! The mutations around a transfer that waits for approval: the threshold that makes it wait,
//! and the owner's decisions.

use crate::Client;
use serde_json::{Value, json};

/// The fields of a transfer the decisions answer with.
pub const TRANSFER_FIELDS: &str = "id status voidReason cancelReason failureCode \
    approvalDeadline approvedAt amount { amount currency }";

impl Client {
    /// Sets the approval threshold in `currency` to `amount`, or clears it (`None`).
    pub async fn set_approval_threshold(
        &self,
        amount: Option<&str>,
        currency: &str,
    ) -> anyhow::Result<Value> {
        let input = match amount {
            Some(amount) => json!({"amount": {"amount": amount, "currency": currency}}),
            None => json!({"amount": null, "currency": currency}),
        };
        self.set_approval_threshold_raw(input).await
    }

    /// `setApprovalThreshold` with the input as given: its payload.
    pub async fn set_approval_threshold_raw(&self, input: Value) -> anyhow::Result<Value> {
        let query = "mutation($input: SetApprovalThresholdInput!) { \
            setApprovalThreshold(input: $input) { userErrors { field code message } } }";
        Ok(self.data(query, json!({"input": input})).await?["setApprovalThreshold"].clone())
    }

    /// `approveTransfer`: its payload.
    pub async fn approve_transfer(&self, transfer_id: &str) -> anyhow::Result<Value> {
        let query = format!(
            "mutation($input: ApproveTransferInput!) {{ approveTransfer(input: $input) {{ \
             transfer {{ {TRANSFER_FIELDS} }} userErrors {{ field code message }} }} }}"
        );
        let input = json!({"input": {"transferId": transfer_id}});
        Ok(self.data(&query, input).await?["approveTransfer"].clone())
    }

    /// `cancelTransfer`: its payload.
    pub async fn cancel_transfer(
        &self,
        transfer_id: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<Value> {
        let query = format!(
            "mutation($input: CancelTransferInput!) {{ cancelTransfer(input: $input) {{ \
             transfer {{ {TRANSFER_FIELDS} }} userErrors {{ field code message }} }} }}"
        );
        let input = json!({"input": {"transferId": transfer_id, "reason": reason}});
        Ok(self.data(&query, input).await?["cancelTransfer"].clone())
    }

    /// The transfer with the decisions' fields.
    pub async fn transfer(&self, id: &str) -> anyhow::Result<Value> {
        let query = format!("query($id: ID!) {{ transfer(id: $id) {{ {TRANSFER_FIELDS} }} }}");
        Ok(self.data(&query, json!({"id": id})).await?["transfer"].clone())
    }
}
