//! Every SQL statement the api and the worker hold is prepared against the migrated schema, so
//! that a renamed column or table fails CI even where no end-to-end test runs the statement.
//!
//! The statements are found in the source of the crates that run SQL (`store`, `ledger`) with
//! `syn`: each string given to `sql::query*`, and each string literal (or `concat!` of literals
//! and the crates' own `macro_rules!` fragments) that reads as a statement, wherever it sits (a
//! `const`, a struct field). Queries are static strings by rule (crate `store`, module `sql`),
//! so this finds them all; the one formatted batch, `session::begin_as`, runs on every request.
//! Function bodies in the migrations are PL/pgSQL, checked when they run: the end-to-end tests
//! run every one.

use djinn_tests::fresh_database;
use quote::ToTokens;
use sqlx::{AssertSqlSafe, Executor, PgPool, SqlSafeStr};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

const CRATES_WITH_SQL: [&str; 2] = ["store", "ledger"];
const STATEMENT_STARTS: [&str; 5] = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"];

/// The `macro_rules!` fragments (name -> text) of the crates, for `concat!(select_x!(), ..)`.
#[derive(Default)]
struct Fragments(BTreeMap<String, String>);

impl Fragments {
    fn resolve(&self, expr: &syn::Expr) -> Option<String> {
        match expr {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some(text.value()),
            syn::Expr::Macro(call) => self.resolve_macro(&call.mac),
            syn::Expr::Group(group) => self.resolve(&group.expr),
            _ => None,
        }
    }

    fn resolve_macro(&self, mac: &syn::Macro) -> Option<String> {
        let name = mac.path.segments.last()?.ident.to_string();
        if name == "concat" {
            let parts = mac
                .parse_body_with(
                    syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
                )
                .ok()?;
            return parts.iter().map(|part| self.resolve(part)).collect();
        }
        self.0.get(&name).cloned()
    }

    /// `macro_rules! name { () => { <expr> }; }` with an expression this can resolve.
    fn learn(&mut self, item: &syn::ItemMacro) {
        let (Some(name), true) = (&item.ident, item.mac.path.is_ident("macro_rules")) else {
            return;
        };
        let tokens: Vec<proc_macro2::TokenTree> = item.mac.tokens.clone().into_iter().collect();
        // () => { body }
        if let Some(proc_macro2::TokenTree::Group(body)) = tokens.get(3)
            && let Ok(expr) = syn::parse2::<syn::Expr>(body.stream())
            && let Some(text) = self.resolve(&expr)
        {
            self.0.insert(name.to_string(), text);
        }
    }
}

/// What one file holds: the statements found, and `sql::query*` calls whose text it could not
/// read (a variable: its text must then be found as a literal elsewhere).
struct Finder<'a> {
    fragments: &'a Fragments,
    statements: BTreeSet<String>,
    calls: usize,
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_expr(&mut self, expr: &'ast syn::Expr) {
        if let Some(text) = self.fragments.resolve(expr) {
            let head = text.trim_start().to_uppercase();
            // The keyword as a word: a literal such as "deleted" is not a statement.
            let statement = STATEMENT_STARTS.iter().any(|start| {
                head.strip_prefix(start)
                    .is_some_and(|rest| rest.starts_with(char::is_whitespace))
            });
            if statement {
                self.statements.insert(text);
            }
            return;
        }
        if let syn::Expr::Call(call) = expr
            && let syn::Expr::Path(path) = &*call.func
            && path.path.segments.last().is_some_and(|segment| {
                ["query", "query_as", "query_scalar"].contains(&segment.ident.to_string().as_str())
            })
        {
            self.calls += 1;
        }
        syn::visit::visit_expr(self, expr);
    }

    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        // Unit tests hold SQL of their own (plants as the owner): not the product's.
        let is_test = module.attrs.iter().any(|attr| {
            attr.path().is_ident("cfg") && attr.to_token_stream().to_string().contains("test")
        });
        if !is_test {
            syn::visit::visit_item_mod(self, module);
        }
    }
}

fn source_files(crate_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![crate_dir.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("a readable folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every statement of the crates that run SQL, with the file it is in; and the number of
/// `query*` calls seen.
fn statements() -> anyhow::Result<(Vec<(String, String)>, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut parsed = Vec::new();
    for krate in CRATES_WITH_SQL {
        for file in source_files(&root.join(krate)) {
            let syntax = syn::parse_file(&std::fs::read_to_string(&file)?)?;
            parsed.push((
                format!(
                    "{krate}/{}",
                    file.file_name().expect("a file name").to_string_lossy()
                ),
                syntax,
            ));
        }
    }
    let mut fragments = Fragments::default();
    for (_, syntax) in &parsed {
        for item in &syntax.items {
            if let syn::Item::Macro(item) = item {
                fragments.learn(item);
            }
        }
    }
    let (mut found, mut calls) = (Vec::new(), 0);
    for (file, syntax) in &parsed {
        let mut finder = Finder {
            fragments: &fragments,
            statements: BTreeSet::new(),
            calls: 0,
        };
        finder.visit_file(syntax);
        calls += finder.calls;
        found.extend(finder.statements.into_iter().map(|sql| (file.clone(), sql)));
    }
    Ok((found, calls))
}

/// The statements PostgreSQL refuses to prepare on `pool`'s schema, with the reason.
async fn refused(pool: &PgPool, statements: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let mut conn = pool.acquire().await?;
    let mut refused = Vec::new();
    for (file, sql) in statements {
        if let Err(error) = conn
            .prepare(AssertSqlSafe(sql.as_str()).into_sql_str())
            .await
        {
            refused.push(format!(
                "{file}: {error}\n    {}",
                sql.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    Ok(refused)
}

#[tokio::test]
async fn every_statement_prepares_against_the_migrated_schema() -> anyhow::Result<()> {
    let (statements, calls) = statements()?;
    // Sanity: the finder sees the crates' statements, in both crates.
    assert!(
        statements.len() >= 25,
        "only {} statements found",
        statements.len()
    );
    assert!(
        statements.len() >= calls.saturating_sub(8),
        "{calls} query calls, {} statements",
        statements.len()
    );
    for krate in CRATES_WITH_SQL {
        assert!(
            statements.iter().any(|(file, _)| file.starts_with(krate)),
            "no statement found in {krate}"
        );
    }
    let (_, pool) = fresh_database().await?;
    let refused = refused(&pool, &statements).await?;
    assert!(
        refused.is_empty(),
        "statements the schema refuses:\n{}",
        refused.join("\n")
    );
    Ok(())
}

/// The check has teeth: after a column is renamed, the statements that name it are refused.
#[tokio::test]
async fn a_renamed_column_is_caught() -> anyhow::Result<()> {
    let (statements, _) = statements()?;
    let (_, pool) = fresh_database().await?;
    sqlx::query("ALTER TABLE accounts RENAME COLUMN overdraft_limit_minor TO overdraft_minor")
        .execute(&pool)
        .await?;
    let refused = refused(&pool, &statements).await?;
    assert!(
        refused
            .iter()
            .any(|reason| reason.contains("overdraft_limit_minor")),
        "no statement was refused: {refused:?}"
    );
    Ok(())
}
