//! No input makes a reader panic: arbitrary bytes, and bytes shaped like each format, give a
//! statement or an error (proptest, on stable Rust; cargo-fuzz needs nightly). And the check
//! before a file is kept refuses what the full read refuses, and finds what it finds.

use djinn_domain::Currency;
use djinn_statements::{CsvProfile, Format, check, read, read_each};
use proptest::prelude::*;

fn read_all(bytes: &[u8]) {
    let usd = Currency::parse("USD").expect("known");
    for name in ["generic", "de-giro", "us-debit-credit"] {
        let profile = CsvProfile::built_in(name).expect("built in");
        let _ = read(bytes, Format::Csv, &profile, usd);
        let full = read_each(bytes, Format::Csv, &profile, usd, &mut |_| {});
        assert_eq!(check(bytes, Format::Csv, &profile, usd), full);
    }
    let generic = CsvProfile::built_in("generic").expect("built in");
    let _ = read(bytes, Format::Ofx, &generic, usd);
    let _ = read(bytes, Format::Camt053, &generic, usd);
    let _ = djinn_statements::detect(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        read_all(&bytes);
    }

    #[test]
    fn csv_shaped(rows in proptest::collection::vec("[0-9a-z,;.\"\\- ]{0,40}", 0..20)) {
        let text = format!("Date,Description,Amount\n{}", rows.join("\n"));
        read_all(text.as_bytes());
    }

    #[test]
    fn ofx_shaped(tags in proptest::collection::vec(
        "<(/)?(OFX|STMTRS|STMTTRN|TRNAMT|DTPOSTED|FITID|CURDEF|LEDGERBAL|BALAMT)>[0-9A-Z&;.\\-]{0,12}", 0..40)) {
        let text = format!("OFXHEADER:100\n\n<OFX>{}", tags.concat());
        read_all(text.as_bytes());
    }

    #[test]
    fn camt_shaped(parts in proptest::collection::vec(
        "<(/)?(Stmt|Acct|Ccy|Bal|Ntry|Amt|CdtDbtInd|Sts|BookgDt|Dt|AcctSvcrRef|RvslInd|Tp|CdOrPrtry|Cd)( Ccy=\"EUR\")?>[0-9A-Z.&;\\-]{0,10}", 0..40)) {
        let text = format!("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>{}", parts.concat());
        read_all(text.as_bytes());
    }

    /// Amounts written in a bank's notation read back to the same minor units.
    #[test]
    fn german_amounts_read_exactly(minor in -10_000_000_000_i64..10_000_000_000) {
        let whole = (minor.abs() / 100).to_string();
        let grouped: Vec<String> = whole.as_bytes().rchunks(3).rev()
            .map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        let sign = if minor < 0 { "-" } else { "" };
        let text = format!("{sign}{},{:02}", grouped.join("."), minor.abs() % 100);
        let row = format!("Buchungstag;Verwendungszweck;Betrag\n01.11.2026;x;{text}\n");
        let profile = CsvProfile::built_in("de-giro").expect("built in");
        let statement = read(row.as_bytes(), Format::Csv, &profile, Currency::parse("EUR").expect("known"))
            .expect("a valid row");
        prop_assert_eq!(statement.lines[0].amount.amount_minor(), minor);
    }
}
