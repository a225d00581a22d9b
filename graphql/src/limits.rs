//! Every limit the API enforces, named, so that each has one place and a test that crosses it.
//! Queries are bounded before they run (depth, complexity, aliases, body size), while they run
//! (timeout) and per caller (rate).

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use std::sync::Arc;
use std::time::Duration;

/// Deepest selection accepted. The product schema needs 7; introspection can nest without end.
pub const QUERY_DEPTH_MAX: usize = 12;
/// Most fields one query may resolve, counting a connection's fields once per requested item.
pub const QUERY_COMPLEXITY_MAX: usize = 2_000;
/// Most aliased fields in one query: aliases are how one request asks for the same work many
/// times over.
pub const ALIASES_MAX: usize = 30;
/// What `Transfer.workflowStatus` costs against [`QUERY_COMPLEXITY_MAX`]: a Temporal query,
/// which for a closed run replays its history on a worker. Priced so that one request can ask
/// it of one transfer, never of every item of a list.
pub const WORKFLOW_STATUS_COMPLEXITY: usize = 1_000;
/// Largest request body accepted, in bytes.
pub const REQUEST_BODY_MAX_BYTES: usize = 64 * 1024;
/// Default time a request may take before it is answered 408.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default requests per minute per user, with bursts of the same size.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;

/// Refuses queries with more than [`ALIASES_MAX`] aliases, before validation or execution.
#[derive(Debug, Clone, Copy)]
pub struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases: usize = document
            .operations
            .iter()
            .map(|(_, op)| count_aliases(&op.node.selection_set.node))
            .sum::<usize>()
            + document
                .fragments
                .values()
                .map(|fragment| count_aliases(&fragment.node.selection_set.node))
                .sum::<usize>();
        if aliases > self.0 {
            return Err(ServerError::new(
                format!(
                    "the query has {aliases} aliases; at most {} are allowed",
                    self.0
                ),
                None,
            ));
        }
        Ok(document)
    }
}

fn count_aliases(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
