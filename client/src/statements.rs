//! Statement imports and reconciliation as a client sends them: `importStatement` as a
//! multipart request (the GraphQL multipart request spec: `operations`, `map`, then the file),
//! and the reads that follow a run to its end.

use crate::Client;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A statement import's fields as the tests and the benchmark read them.
pub const IMPORT_FIELDS: &str =
    "id status linesTotal linesDone linesMatched linesPosted failureCode failureMessage";

/// A reconciliation run's fields, items included.
pub const RUN_FIELDS: &str = "id status matchedCount missingFromLedgerCount unexpectedInLedgerCount
    missingFromLedger { bankId bookedOn amount { amount currency } description }
    unexpectedInLedger { id amount { amount currency } }
    closingDifference { amount currency } closingOn";

/// An import's file and how to read it.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    pub account_id: &'a str,
    pub file_name: &'a str,
    pub content: Vec<u8>,
    pub format: Option<&'a str>,
    pub csv_profile: Option<&'a str>,
    pub idempotency_key: &'a str,
}

impl Client {
    /// Sends `importStatement` with the file as a multipart upload: the HTTP status and body.
    pub async fn import_statement_raw(&self, upload: Upload<'_>) -> anyhow::Result<(u16, String)> {
        let query = format!(
            "mutation($input: ImportStatementInput!) {{ importStatement(input: $input) {{
                statementImport {{ {IMPORT_FIELDS} }} userErrors {{ field code message }} }} }}"
        );
        let operations = json!({"query": query, "variables": {"input": {
            "accountId": upload.account_id, "file": null, "format": upload.format,
            "csvProfile": upload.csv_profile, "idempotencyKey": upload.idempotency_key}}});
        let file =
            reqwest::multipart::Part::bytes(upload.content).file_name(upload.file_name.to_owned());
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({"0": ["variables.input.file"]}).to_string())
            .part("0", file);
        let response = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// `importStatement`'s payload; fails on anything but a 200 without top-level errors.
    pub async fn import_statement(&self, upload: Upload<'_>) -> anyhow::Result<Value> {
        let (status, body) = self.import_statement_raw(upload).await?;
        let body: Value =
            serde_json::from_str(&body).with_context(|| format!("HTTP {status}: {body}"))?;
        if status != 200 || body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("HTTP {status}: {body}");
        }
        Ok(body["data"]["importStatement"].clone())
    }

    /// The import once it has left RUNNING.
    pub async fn settled_import(&self, id: &str) -> anyhow::Result<Value> {
        let query = format!("query($id: ID!) {{ statementImport(id: $id) {{ {IMPORT_FIELDS} }} }}");
        self.settled(&query, id, "statementImport", Duration::from_secs(600))
            .await
    }

    /// Sends `reconcileAccount`: its payload.
    pub async fn reconcile_account(
        &self,
        account_id: &str,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Value> {
        let query = format!(
            "mutation($input: ReconcileAccountInput!) {{ reconcileAccount(input: $input) {{
                reconciliationRun {{ {RUN_FIELDS} }} userErrors {{ field code message }} }} }}"
        );
        let input = json!({"accountId": account_id, "from": from, "to": to});
        Ok(self.data(&query, json!({"input": input})).await?["reconcileAccount"].clone())
    }

    /// The reconciliation run once it has left RUNNING.
    pub async fn settled_run(&self, id: &str) -> anyhow::Result<Value> {
        let query = format!("query($id: ID!) {{ reconciliationRun(id: $id) {{ {RUN_FIELDS} }} }}");
        self.settled(&query, id, "reconciliationRun", Duration::from_secs(600))
            .await
    }

    async fn settled(
        &self,
        query: &str,
        id: &str,
        field: &str,
        within: Duration,
    ) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let found = self.data(query, json!({"id": id})).await?[field].clone();
            if found["status"] != json!("RUNNING") {
                return Ok(found);
            }
            if started.elapsed() > within {
                bail!("{field} {id} still RUNNING: {found}");
            }
            // Polled at a twentieth of the wait so far (10 to 100 ms): what waits on it (a test,
            // the bench's clock) learns of the end within 5 % of its time.
            let pause = (started.elapsed() / 20)
                .clamp(Duration::from_millis(10), Duration::from_millis(100));
            tokio::time::sleep(pause).await;
        }
    }
}
