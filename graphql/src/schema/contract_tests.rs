//! The contract of "money that waits" (issue 20): its names, as the issue spells them, are all
//! served (each type with each of its fields and arguments), beside whatever was added.

/// The fields of `kind name { .. }` in the SDL, by name, each with its argument list and type.
fn fields(sdl: &str, kind: &str, name: &str) -> Vec<String> {
    let head = format!("{kind} {name} ");
    let Some(start) = sdl.find(&head) else {
        return Vec::new();
    };
    let body = &sdl[start..];
    let body = &body[body.find('{').unwrap_or(0) + 1..body.find("\n}").unwrap_or(body.len())];
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('"') && !line.starts_with('#'))
        .filter(|line| line.contains(':') || kind == "enum")
        .map(|line| line.replace(' ', ""))
        .collect()
}

/// Each type of the contract, with the fields (enum values) it must have.
const CONTRACT: [(&str, &str, &[&str]); 13] = [
    ("input", "SetApprovalThresholdInput", &["amount:MoneyInput"]),
    (
        "type",
        "SetApprovalThresholdPayload",
        &["userErrors:[UserError!]!"],
    ),
    ("input", "ApproveTransferInput", &["transferId:ID!"]),
    (
        "type",
        "ApproveTransferPayload",
        &["transfer:Transfer", "userErrors:[UserError!]!"],
    ),
    (
        "input",
        "CancelTransferInput",
        &["transferId:ID!", "reason:String"],
    ),
    (
        "type",
        "CancelTransferPayload",
        &["transfer:Transfer", "userErrors:[UserError!]!"],
    ),
    (
        "input",
        "ReverseTransferInput",
        &["transferId:ID!", "reason:String", "idempotencyKey:String!"],
    ),
    (
        "type",
        "ReverseTransferPayload",
        &["transfer:Transfer", "userErrors:[UserError!]!"],
    ),
    ("enum", "EntryStatus", &["PENDING", "POSTED", "VOIDED"]),
    (
        "type",
        "LedgerEntry",
        &[
            "id:ID!",
            "amount:Money!",
            "balanceAfter:Money",
            "status:EntryStatus!",
            "kind:String!",
            "description:String",
            "postedAt:DateTime",
            "counterpartyAccount:Account",
            "operation:Operation",
        ],
    ),
    (
        "type",
        "Transfer",
        &[
            "voidReason:String",
            "approvalDeadline:DateTime",
            "approvedAt:DateTime",
            "reversedBy:Transfer",
        ],
    ),
    (
        "type",
        "Subscription",
        &[
            "transferUpdated(id:ID!):Transfer!",
            "accountUpdated(id:ID!):Account!",
        ],
    ),
    ("type", "Mutation", &[]),
];

#[test]
fn the_contract_of_money_that_waits_is_served() {
    let sdl = super::sdl();
    for (kind, name, wanted) in CONTRACT {
        let served = fields(&sdl, kind, name);
        assert!(!served.is_empty(), "{kind} {name} is not served");
        for field in wanted {
            assert!(
                served.iter().any(|f| f == field),
                "{kind} {name} lacks {field}: {served:?}"
            );
        }
    }
    assert!(sdl.contains("type LedgerEntry implements Node"));
    for mutation in [
        "setApprovalThreshold",
        "approveTransfer",
        "cancelTransfer",
        "reverseTransfer",
    ] {
        assert!(
            fields(&sdl, "type", "Mutation")
                .iter()
                .any(|f| f.starts_with(&format!("{mutation}("))),
            "no mutation {mutation}"
        );
    }
}
