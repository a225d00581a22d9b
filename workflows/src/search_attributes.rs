//! Custom search attributes, so operations staff can find workflows in the Temporal UI by user,
//! kind of operation and status. They must be registered on the namespace before use; the
//! worker does so at start-up.

use temporalio_common::search_attributes::SearchAttributeKey;

pub const DJINN_USER_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("DjinnUserId");
pub const DJINN_OPERATION: SearchAttributeKey<String> =
    SearchAttributeKey::keyword("DjinnOperation");
pub const DJINN_STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("DjinnStatus");

/// Names of every custom attribute, all of type Keyword.
pub const KEYWORD_ATTRIBUTES: [&str; 3] = ["DjinnUserId", "DjinnOperation", "DjinnStatus"];
