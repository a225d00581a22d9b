//! Counts and times every GraphQL request (`requests_total`, `request_duration_seconds`) by
//! operation, as an async-graphql extension: the `request` hook wraps parsing, validation and
//! execution, so a request refused as invalid is counted too. The operation is the first root
//! field of the operation that ran (`createTransfer`, `accounts`), a name the schema bounds,
//! known only once the document validated: an invalid one counts as `invalid`, never under a
//! name the client made up.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, Selection};
use async_graphql::{Positioned, Response, ServerResult, Variables};
use djinn_metrics::{Metrics, Outcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

/// The operation label of a request that did not validate.
const INVALID: &str = "invalid";

pub struct RequestMetrics(pub Metrics);

impl ExtensionFactory for RequestMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Counting {
            metrics: self.0.clone(),
            first_fields: Mutex::default(),
            operation: Mutex::default(),
        })
    }
}

/// One request's counting: the first root field of each operation in its document, and the
/// label of the one that ran.
struct Counting {
    metrics: Metrics,
    first_fields: Mutex<HashMap<Option<String>, String>>,
    operation: Mutex<Option<String>>,
}

fn first_root_field(operation: &Positioned<OperationDefinition>) -> String {
    let fields = operation.node.selection_set.node.items.iter();
    let mut names = fields.filter_map(|item| match &item.node {
        Selection::Field(field) => Some(field.node.name.node.as_str()),
        _ => None,
    });
    let mut introspection = false;
    for name in names.by_ref() {
        if name.starts_with("__") {
            introspection = true;
        } else {
            return name.to_owned();
        }
    }
    if introspection {
        "introspection"
    } else {
        "other"
    }
    .to_owned()
}

#[async_graphql::async_trait::async_trait]
impl Extension for Counting {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .unwrap_or_else(|| INVALID.to_owned());
        let outcome = if response.errors.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        let took = started.elapsed();
        self.metrics.request(&operation, outcome, took);
        // The access log's line, inside the request's span (crate::request_id).
        tracing::info!(
            outcome = outcome.as_str(),
            took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "graphql request answered"
        );
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut first_fields = self
            .first_fields
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (name, operation) in document.operations.iter() {
            first_fields.insert(
                name.map(|name| name.to_string()),
                first_root_field(operation),
            );
        }
        Ok(document)
    }

    /// Runs only for a document that validated: the operation's label is now trustworthy.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let label = {
            let first_fields = self
                .first_fields
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            first_fields
                .get(&operation_name.map(str::to_owned))
                .or_else(|| {
                    (first_fields.len() == 1)
                        .then(|| first_fields.values().next())
                        .flatten()
                })
                .cloned()
        };
        if let Some(label) = &label {
            tracing::Span::current().record("operation", label.as_str());
        }
        let span = tracing::info_span!("graphql", operation = label.as_deref().unwrap_or(INVALID));
        *self
            .operation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = label;
        next.run(ctx, operation_name).instrument(span).await
    }
}
