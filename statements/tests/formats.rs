//! Real statement files of each format, written from the formats' specifications: CSV with a
//! BOM, CRLF, quoted commas, a decimal comma and thousands separators in Windows-1252, separate
//! debit and credit columns; OFX 1.x (SGML, an unescaped `&`) and 2.x (XML) of the same
//! statement; CAMT.053 with credit and debit indicators, a reversal and a pending entry; and
//! files that are malformed, do not add up, or are in another currency.

use djinn_domain::Currency;
use djinn_statements::{
    CsvProfile, Format, Statement, StatementError, check, detect, read, read_each,
};

fn file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/files")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("a known currency")
}

fn profile(name: &str) -> CsvProfile {
    CsvProfile::built_in(name).expect("a built-in profile")
}

fn csv(name: &str, profile_name: &str) -> Result<Statement, StatementError> {
    read(
        &file(name),
        Format::Csv,
        &profile(profile_name),
        currency("USD"),
    )
}

/// (bank id, day, minor units, description) of each line.
fn summary(statement: &Statement) -> Vec<(String, String, i64, Option<String>)> {
    statement
        .lines
        .iter()
        .map(|l| {
            (
                l.bank_id.clone(),
                l.booked_on.to_string(),
                l.amount.amount_minor(),
                l.description.clone(),
            )
        })
        .collect()
}

#[test]
fn a_generic_csv_with_bom_crlf_and_quoted_commas() {
    let statement = csv("generic.csv", "generic").expect("read");
    let lines = summary(&statement);
    let amounts: Vec<i64> = lines.iter().map(|l| l.2).collect();
    assert_eq!(amounts, [-120_000, -350, -350, 250_000]);
    assert_eq!(lines[0].3.as_deref(), Some("Rent, November"));
    assert_eq!(statement.lines[1].source_line, 3);
    // Two identical rows of the same day are two lines, with two ids.
    assert_ne!(lines[1].0, lines[2].0);
    assert!(lines[1].0.ends_with("#1") && lines[2].0.ends_with("#2"));
    assert_eq!((statement.opening, statement.closing), (None, None));
}

#[test]
fn overlapping_csv_exports_give_the_same_ids_to_the_same_rows() {
    let first = summary(&csv("generic.csv", "generic").expect("read"));
    let second = summary(&csv("generic-overlapping.csv", "generic").expect("read"));
    let shared: Vec<_> = second.iter().filter(|line| first.contains(line)).collect();
    assert_eq!(shared.len(), 3, "both coffees and the salary: {second:?}");
}

#[test]
fn a_german_export_with_decimal_commas_in_windows_1252() {
    let statement = read(
        &file("de-giro.csv"),
        Format::Csv,
        &profile("de-giro"),
        currency("EUR"),
    )
    .expect("read");
    let lines = summary(&statement);
    assert_eq!(
        lines.iter().map(|l| l.2).collect::<Vec<_>>(),
        [-123_456, -420, 300_000]
    );
    assert_eq!(lines[1].3.as_deref(), Some("Café am Markt"));
    assert_eq!(lines[0].1, "2026-11-01");
}

#[test]
fn debit_and_credit_columns() {
    let statement = csv("us-debit-credit.csv", "us-debit-credit").expect("read");
    let amounts: Vec<i64> = summary(&statement).iter().map(|l| l.2).collect();
    assert_eq!(amounts, [-123_456, 1_999, -8_210]);
    let both = csv("us-both-columns.csv", "us-debit-credit").expect_err("refused");
    assert_eq!(both.to_string(), "line 3: both a debit and a credit");
}

#[test]
fn a_custom_profile_given_as_json() {
    let custom = CsvProfile::from_json(
        r#"{"delimiter": ";", "date_column": "Booked", "date_format": "%d/%m/%Y",
            "amount": {"kind": "signed", "column": "Paid out", "negate": true},
            "id_column": "Ref", "decimal_separator": ","}"#,
    )
    .expect("a profile");
    let bytes = b"Ref;Booked;Paid out\nA-1;02/11/2026;12,50\nA-2;03/11/2026;-1,00\n";
    let statement = read(bytes, Format::Csv, &custom, currency("GBP")).expect("read");
    assert_eq!(
        summary(&statement),
        [
            ("A-1".into(), "2026-11-02".into(), -1_250, None),
            ("A-2".into(), "2026-11-03".into(), 100, None)
        ]
    );
    assert!(CsvProfile::from_json(r#"{"date_column": "x"}"#).is_err());
}

#[test]
fn a_malformed_csv_names_the_line_and_the_problem() {
    let error = csv("generic-bad-date.csv", "generic").expect_err("refused");
    assert_eq!(
        error.to_string(),
        "line 3: the date \"2026-13-40\" is not %Y-%m-%d"
    );
    let wrong_column = csv("generic.csv", "de-giro").expect_err("refused");
    assert!(
        wrong_column
            .to_string()
            .starts_with("line 1: the header has no column")
    );
}

#[test]
fn ofx_1_and_2_read_the_same_statement() {
    let sgml = read(
        &file("statement-1x.ofx"),
        Format::Ofx,
        &profile("generic"),
        currency("USD"),
    )
    .expect("OFX 1.x");
    let xml = read(
        &file("statement-2x.ofx"),
        Format::Ofx,
        &profile("generic"),
        currency("USD"),
    )
    .expect("OFX 2.x");
    assert_eq!(summary(&sgml), summary(&xml));
    let lines = summary(&sgml);
    assert_eq!(lines[0].0, "20261115001");
    assert_eq!(
        lines[0].3.as_deref(),
        Some("GROCERY STORE & BAKERY Card purchase")
    );
    assert_eq!(lines[1].3.as_deref(), Some("AT&T"), "a bare & is kept");
    assert_eq!(lines[1].1, "2026-11-18");
    assert_eq!(
        lines.iter().map(|l| l.2).collect::<Vec<_>>(),
        [-4_245, -6_000, 100_000]
    );
    assert_eq!(sgml.closing.map(|m| m.amount_minor()), Some(189_755));
    assert_eq!(sgml.opening, None, "OFX states no opening balance");

    let no_amount = read(
        &file("statement-1x-no-amount.ofx"),
        Format::Ofx,
        &profile("generic"),
        currency("USD"),
    )
    .expect_err("refused");
    assert!(
        no_amount.to_string().contains("without TRNAMT"),
        "{no_amount}"
    );
    assert!(no_amount.to_string().starts_with("line 26:"), "{no_amount}");
}

#[test]
fn camt_053_signs_balances_reversals_and_pending_entries() {
    let statement = read(
        &file("camt053.xml"),
        Format::Camt053,
        &profile("generic"),
        currency("EUR"),
    )
    .expect("read");
    let lines = summary(&statement);
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.0.as_str(), l.2))
            .collect::<Vec<_>>(),
        [
            ("BANKREF-0001", 100_000),
            ("BANKREF-0002", -4_245),
            ("BANKREF-0003", -1_000)
        ],
        "the pending entry is not booked"
    );
    assert_eq!(lines[1].3.as_deref(), Some("Grocery store & bakery"));
    assert_eq!(lines[2].3.as_deref(), Some("Returned credit"));
    assert_eq!(statement.opening.map(|m| m.amount_minor()), Some(100_000));
    assert_eq!(statement.closing.map(|m| m.amount_minor()), Some(194_755));
}

#[test]
fn a_statement_that_does_not_add_up_or_is_in_another_currency_is_refused_whole() {
    let unbalanced = read(
        &file("camt053-unbalanced.xml"),
        Format::Camt053,
        &profile("generic"),
        currency("EUR"),
    );
    assert!(
        matches!(unbalanced, Err(StatementError::Unbalanced { .. })),
        "{unbalanced:?}"
    );
    let dollars = read(
        &file("camt053.xml"),
        Format::Camt053,
        &profile("generic"),
        currency("USD"),
    );
    assert!(
        matches!(dollars, Err(StatementError::CurrencyMismatch { .. })),
        "{dollars:?}"
    );
    let broken = read(
        &file("camt053-broken.xml"),
        Format::Camt053,
        &profile("generic"),
        currency("EUR"),
    )
    .expect_err("refused");
    assert!(broken.to_string().starts_with("line 21:"), "{broken}");
}

#[test]
fn the_format_is_detected_from_the_content() {
    assert_eq!(detect(&file("camt053.xml")), Format::Camt053);
    assert_eq!(detect(&file("statement-1x.ofx")), Format::Ofx);
    assert_eq!(detect(&file("statement-2x.ofx")), Format::Ofx);
    assert_eq!(detect(&file("generic.csv")), Format::Csv);
}

/// A CSV row's id is the identity the ledger keeps it under (`statement_lines` is unique per
/// account and bank id): if the same row read by a later release gave another id, importing a
/// file again would post its lines twice. These ids were read by the release that first wrote
/// them.
#[test]
fn a_csv_rows_id_never_changes() {
    let text = "Date,Description,Amount\n2026-11-02,Coffee,-3.50\n2026-11-02,Coffee,-3.50\n2026-11-03,,1000.00\n2026-11-04,Café Ümlaut,-12.00\n";
    let profile = CsvProfile::built_in("generic").expect("generic");
    let usd = Currency::parse("USD").expect("USD");
    let mut ids = Vec::new();
    read_each(text.as_bytes(), Format::Csv, &profile, usd, &mut |line| {
        ids.push(line.bank_id)
    })
    .expect("reads");
    assert_eq!(
        ids,
        [
            "csv:a6cd4753e5659d190d8d1dfe#1",
            "csv:a6cd4753e5659d190d8d1dfe#2",
            "csv:f1dbef78920c5c9ba505365d#1",
            "csv:551453d1aadc9de59fd9e717#1",
        ]
    );
}

/// The check before a file is kept (which makes no CSV row ids) refuses every file the full
/// read refuses, with the same error, and finds the same lines, balances and last day.
#[test]
fn the_check_finds_what_the_full_read_finds() {
    let files = [
        "camt053-broken.xml",
        "camt053-unbalanced.xml",
        "camt053.xml",
        "de-giro.csv",
        "generic-bad-date.csv",
        "generic-overlapping.csv",
        "generic.csv",
        "statement-1x-no-amount.ofx",
        "statement-1x.ofx",
        "statement-2x.ofx",
        "us-both-columns.csv",
        "us-debit-credit.csv",
    ];
    let mut refused = 0;
    for name in files {
        let bytes = file(name);
        for profile_name in ["generic", "de-giro", "us-debit-credit"] {
            for code in ["USD", "EUR"] {
                let (format, profile) = (detect(&bytes), profile(profile_name));
                let full = read_each(&bytes, format, &profile, currency(code), &mut |_| {});
                let checked = check(&bytes, format, &profile, currency(code));
                assert_eq!(checked, full, "{name} as {profile_name} in {code}");
                refused += usize::from(full.is_err());
            }
        }
    }
    assert!(refused > 0 && refused < files.len() * 6, "{refused}");
}
