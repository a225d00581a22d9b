//! The crate map of ARCHITECTURE.md, enforced: the compiler keeps a crate from using what it
//! does not depend on, and this test keeps the dependencies themselves as designed. It reads
//! the Cargo.tomls through `cargo metadata --no-deps`.
//!
//! - `domain` and `workflows` reach no IO: no sqlx, reqwest, axum or tokio, no Djinn crate
//!   with side effects, so workflow code cannot do IO by accident.
//! - `graphql` has no SQL of its own (no sqlx) and cannot reach the ledger's write steps
//!   (`djinn-ledger`, `djinn-activities`), so a resolver that posts does not compile.
//! - `store` cannot reach the ledger's writes either; `bench` does not use the test harness.
//! - The block of direct dependencies in ARCHITECTURE.md is exactly the Cargo.tomls'.
//!
//! And the tree reads in one sitting: no source file over 400 lines, no function outside the
//! tests over 80.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FILE_LINES_MAX: usize = 400;
const FUNCTION_LINES_MAX: usize = 80;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// Each workspace package's direct normal (not dev, not build) dependencies, by name, as its
/// Cargo.toml declares them. `--no-deps` needs no registry: the check runs offline anywhere.
fn direct_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .map(|dep| dep["name"].as_str().expect("a name").to_owned())
                .collect();
            (package["name"].as_str().expect("a name").to_owned(), deps)
        })
        .collect()
}

/// Everything `package` reaches through normal dependencies: other workspace crates, and the
/// external crates any of them declares.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![package.to_owned()];
    while let Some(next) = todo.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

fn workspace_packages(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    graph
        .keys()
        .filter(|name| *name == "djinn" || name.starts_with("djinn-"))
        .cloned()
        .collect()
}

#[test]
fn pure_crates_reach_no_io() {
    let graph = direct_dependencies();
    let forbidden = [
        "sqlx",
        "reqwest",
        "axum",
        "tokio",
        "djinn-store",
        "djinn-ledger",
        "djinn-temporal",
        "djinn-activities",
        "djinn-graphql",
    ];
    for package in ["djinn-domain", "djinn-workflows"] {
        let direct = &graph[package];
        for name in forbidden {
            assert!(!direct.contains(name), "{package} depends on {name}");
        }
    }
    // Through the workspace's own crates, neither reaches any of them indirectly either.
    for package in ["djinn-domain", "djinn-workflows"] {
        let reached = reachable(&graph, package);
        for name in forbidden {
            assert!(!reached.contains(name), "{package} reaches {name}");
        }
    }
}

#[test]
fn only_activities_reach_the_ledger_writes() {
    let graph = direct_dependencies();
    assert!(
        !graph["djinn-graphql"].contains("sqlx"),
        "djinn-graphql has SQL of its own"
    );
    for package in [
        "djinn-graphql",
        "djinn-store",
        "djinn-temporal",
        "djinn-workflows",
    ] {
        let reached = reachable(&graph, package);
        for writes in ["djinn-ledger", "djinn-activities"] {
            assert!(!reached.contains(writes), "{package} reaches {writes}");
        }
    }
    let reaching: BTreeSet<String> = workspace_packages(&graph)
        .into_iter()
        .filter(|package| graph[package].contains("djinn-ledger"))
        .collect();
    let allowed: BTreeSet<String> = ["djinn-activities", "djinn-tests"].map(String::from).into();
    assert!(
        reaching.is_subset(&allowed),
        "only the activities (and the tests) may depend on djinn-ledger: {reaching:?}"
    );
    assert!(
        !reachable(&graph, "djinn-bench").contains("djinn-tests"),
        "the benchmark depends on the test harness"
    );
}

/// The fenced block after "Dependencies, as the Cargo.tomls declare them" in ARCHITECTURE.md:
/// one line per crate, `crate -> dep, dep`.
fn documented_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let architecture =
        std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let (_, after) = architecture
        .split_once("Dependencies, as the Cargo.tomls declare them")
        .expect("ARCHITECTURE.md lists the crates' dependencies");
    let block = after
        .split("```")
        .nth(1)
        .expect("a fenced block of dependencies");
    block
        .lines()
        .filter_map(|line| line.split_once("->"))
        .map(|(package, deps)| {
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|dep| !dep.is_empty() && *dep != "(none)")
                .map(str::to_owned)
                .collect();
            (package.trim().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_architecture_documents_the_dependencies_as_they_are() {
    let graph = direct_dependencies();
    let packages = workspace_packages(&graph);
    let actual: BTreeMap<String, BTreeSet<String>> = packages
        .iter()
        .map(|package| {
            let ours = graph[package].intersection(&packages).cloned().collect();
            (package.clone(), ours)
        })
        .collect();
    assert_eq!(documented_dependencies(), actual);
}

/// Every `.rs` file of the workspace, outside `target/` and hidden folders.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The functions of `source` longer than `max` lines, by name: a `fn` line, to the line that
/// closes it at the same indentation (rustfmt's layout).
fn long_functions(source: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("async ");
        if !signature.starts_with("fn ") || line.ends_with(';') {
            continue;
        }
        let closing = format!("{}}}", " ".repeat(indent));
        let length = lines[start..].iter().position(|l| *l == closing);
        if let Some(length) = length.map(|last| last + 1).filter(|length| *length > max) {
            let name = signature[3..].split(['(', '<']).next().unwrap_or("?");
            long.push((name.to_owned(), length));
        }
    }
    long
}

#[test]
fn the_tree_reads_in_one_sitting() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let lines = source.lines().count();
        if lines > FILE_LINES_MAX {
            problems.push(format!("{relative}: {lines} lines"));
        }
        let is_test = relative.starts_with("tests/") || relative.contains("/tests/");
        if !is_test {
            for (name, length) in long_functions(&source, FUNCTION_LINES_MAX) {
                problems.push(format!("{relative}: fn {name} is {length} lines"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "too long to read in one sitting:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_long_function_is_found() {
    let body = "    let x = 1;\n".repeat(FUNCTION_LINES_MAX);
    let source = format!("pub async fn long() {{\n{body}}}\nfn short() {{\n}}\n");
    assert_eq!(
        long_functions(&source, FUNCTION_LINES_MAX),
        vec![("long".to_owned(), FUNCTION_LINES_MAX + 2)]
    );
}

/// The api and the worker send SQL only through `djinn_store::sql`, which sends every statement
/// unnamed, so that Djinn works behind any transaction-mode pooler (store/src/sql.rs): no
/// `sqlx::query*` elsewhere in the crates they run (tests and the benchmark may).
#[test]
fn statements_go_through_the_stores_sql_module() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for krate in [
        "store",
        "ledger",
        "activities",
        "graphql",
        "cli",
        "temporal",
    ] {
        let mut files = Vec::new();
        rust_files(&root.join(krate), &mut files);
        for file in files {
            let relative = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            if relative == "store/src/sql.rs" {
                continue;
            }
            let source = std::fs::read_to_string(&file).expect("a readable source file");
            for (number, line) in source.lines().enumerate() {
                if ["sqlx::query(", "sqlx::query_as", "sqlx::query_scalar"]
                    .iter()
                    .any(|call| line.contains(call))
                {
                    problems.push(format!("{relative}:{}: {}", number + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "statements past djinn_store::sql:\n{}",
        problems.join("\n")
    );
}
