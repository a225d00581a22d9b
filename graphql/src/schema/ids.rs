//! Opaque global ids (Relay): base64 of "<Type>:<uuid>". Clients must not parse them; we
//! decode them strictly, and an id of the wrong type or shape is simply not found.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    User,
    Account,
    Transfer,
    Operation,
    LedgerEntry,
    RecurringTransfer,
    StatementImport,
    ReconciliationRun,
}

impl NodeType {
    const fn prefix(self) -> &'static str {
        match self {
            NodeType::User => "User",
            NodeType::Account => "Account",
            NodeType::Transfer => "Transfer",
            NodeType::Operation => "Operation",
            NodeType::LedgerEntry => "LedgerEntry",
            NodeType::RecurringTransfer => "RecurringTransfer",
            NodeType::StatementImport => "StatementImport",
            NodeType::ReconciliationRun => "ReconciliationRun",
        }
    }
}

pub fn encode(node_type: NodeType, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", node_type.prefix())))
}

/// The type and uuid behind a global id, or `None` for anything we did not issue.
pub fn decode(id: &str) -> Option<(NodeType, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (prefix, uuid) = text.split_once(':')?;
    let node_type = [
        NodeType::User,
        NodeType::Account,
        NodeType::Transfer,
        NodeType::Operation,
        NodeType::LedgerEntry,
        NodeType::RecurringTransfer,
        NodeType::StatementImport,
        NodeType::ReconciliationRun,
    ]
    .into_iter()
    .find(|candidate| candidate.prefix() == prefix)?;
    Some((node_type, Uuid::parse_str(uuid).ok()?))
}

/// The uuid behind a global id of the expected type.
pub fn decode_as(id: &str, expected: NodeType) -> Option<Uuid> {
    decode(id)
        .filter(|(node_type, _)| *node_type == expected)
        .map(|(_, uuid)| uuid)
}

/// Page cursors are opaque too: base64 of the row's uuid.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_type() {
        let uuid = Uuid::now_v7();
        let id = encode(NodeType::Account, uuid);
        assert_eq!(decode(&id), Some((NodeType::Account, uuid)));
        assert_eq!(decode_as(&id, NodeType::Account), Some(uuid));
        assert_eq!(decode_as(&id, NodeType::Transfer), None);
        assert_eq!(decode("garbage"), None);
        assert_eq!(decode_cursor(&encode_cursor(uuid)), Some(uuid));
    }
}
