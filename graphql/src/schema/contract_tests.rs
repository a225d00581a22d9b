//! The contracts of "money that waits" (issue 20) and of bank statements, reconciliation and
//! recurring transfers (issue 21): their names, as the issues spell them, are all served (each
//! type with each of its fields and arguments), beside whatever was added.

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

/// Every type of `contract` is served with each of the fields (enum values) it names.
fn assert_served(sdl: &str, contract: &[(&str, &str, &[&str])]) {
    for (kind, name, wanted) in contract {
        let served = fields(sdl, kind, name);
        assert!(!served.is_empty(), "{kind} {name} is not served");
        for field in *wanted {
            assert!(
                served.iter().any(|f| f == field),
                "{kind} {name} lacks {field}: {served:?}"
            );
        }
    }
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
    assert_served(&sdl, &CONTRACT);
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

/// The contract of bank statements, reconciliation and recurring transfers (issue 21).
const STATEMENTS_CONTRACT: [(&str, &str, &[&str]); 11] = [
    ("enum", "StatementFormat", &["CSV", "OFX", "CAMT053"]),
    (
        "input",
        "ImportStatementInput",
        &[
            "accountId:ID!",
            "file:Upload!",
            "format:StatementFormat",
            "csvProfile:String",
            "idempotencyKey:String!",
        ],
    ),
    (
        "type",
        "ImportStatementPayload",
        &[
            "statementImport:StatementImport",
            "userErrors:[UserError!]!",
        ],
    ),
    ("enum", "ImportStatus", &["RUNNING", "COMPLETED", "FAILED"]),
    (
        "type",
        "StatementImport",
        &[
            "id:ID!",
            "status:ImportStatus!",
            "linesTotal:Int!",
            "linesDone:Int!",
            "linesMatched:Int!",
            "linesPosted:Int!",
            "failureMessage:String",
        ],
    ),
    (
        "input",
        "ReconcileAccountInput",
        &["accountId:ID!", "from:Date!", "to:Date!"],
    ),
    (
        "type",
        "ReconcileAccountPayload",
        &[
            "reconciliationRun:ReconciliationRun",
            "userErrors:[UserError!]!",
        ],
    ),
    (
        "enum",
        "ReconciliationStatus",
        &["RUNNING", "COMPLETED", "FAILED"],
    ),
    (
        "type",
        "ReconciliationRun",
        &[
            "id:ID!",
            "status:ReconciliationStatus!",
            "matchedCount:Int!",
            "missingFromLedger:[StatementLine!]!",
            "unexpectedInLedger:[LedgerEntry!]!",
            "closingDifference:Money",
        ],
    ),
    (
        "type",
        "StatementLine",
        &[
            "bankId:String",
            "bookedOn:Date!",
            "amount:Money!",
            "description:String",
        ],
    ),
    (
        "type",
        "Query",
        &[
            "statementImport(id:ID!):StatementImport",
            "reconciliationRun(id:ID!):ReconciliationRun",
        ],
    ),
];

#[test]
fn the_contract_of_statements_and_recurring_transfers_is_served() {
    let sdl = super::sdl();
    assert_served(&sdl, &STATEMENTS_CONTRACT);
    assert!(sdl.contains("type StatementImport implements Node"));
    assert!(sdl.contains("type ReconciliationRun implements Node"));
    let mutations = fields(&sdl, "type", "Mutation");
    for mutation in [
        "importStatement(input:ImportStatementInput!):ImportStatementPayload!",
        "reconcileAccount(input:ReconcileAccountInput!):ReconcileAccountPayload!",
    ] {
        assert!(mutations.iter().any(|f| f == mutation), "no {mutation}");
    }
    for mutation in [
        "createRecurringTransfer",
        "pauseRecurringTransfer",
        "resumeRecurringTransfer",
        "deleteRecurringTransfer",
    ] {
        assert!(
            mutations
                .iter()
                .any(|f| f.starts_with(&format!("{mutation}("))),
            "no mutation {mutation}"
        );
    }
    let account = fields(&sdl, "type", "Account");
    assert!(
        account
            .iter()
            .any(|f| f.starts_with("reconciliationRuns(first:Int,after:String)")),
        "{account:?}"
    );
    assert!(
        fields(&sdl, "type", "Query")
            .iter()
            .any(|f| f.starts_with("recurringTransfers(first:Int,after:String)"))
    );
}
