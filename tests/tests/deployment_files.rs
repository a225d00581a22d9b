//! What can be checked of the deployment without a Docker engine: deploy/compose.yaml parsed
//! (every service healthy or one-shot, none as root, no secret inline, the names and ports the
//! binary reads) and the two Dockerfiles read (multi-stage, locked release build, a fixed
//! non-root user, the api's health check). tests/tests/as_the_image_runs.rs runs the binary as
//! the images do.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn repository_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&repository_file("deploy/compose.yaml")).expect("compose.yaml parses")
}

fn services(compose: &Value) -> Vec<(String, Value)> {
    compose["services"]
        .as_object()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.clone(), service.clone()))
        .collect()
}

/// The names .env.example documents, set or commented out.
fn documented_settings() -> BTreeSet<String> {
    repository_file(".env.example")
        .lines()
        .filter_map(|line| {
            line.trim_start_matches('#')
                .trim()
                .split_once('=')
                .map(|(name, _)| name.to_owned())
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        })
        .collect()
}

fn environment(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_object()
        .map(|variables| {
            variables
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        value
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| value.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_service_is_health_checked_or_runs_once() {
    let compose = compose();
    let services = services(&compose);
    for (name, service) in &services {
        let checked = service["healthcheck"]["test"].is_array();
        let awaited_to_finish = services.iter().any(|(_, other)| {
            other["depends_on"][name.as_str()]["condition"] == "service_completed_successfully"
        });
        let one_shot = service["restart"] == "no" && awaited_to_finish;
        assert!(
            checked || one_shot,
            "{name} has no health check and is not a one-shot"
        );
        for (dependency, condition) in service["depends_on"].as_object().into_iter().flatten() {
            let condition = condition["condition"].as_str().unwrap_or_default();
            assert!(
                ["service_healthy", "service_completed_successfully"].contains(&condition),
                "{name} waits for {dependency} only to start ({condition:?})"
            );
        }
    }
    let temporal = services
        .iter()
        .find(|(name, _)| name == "temporal")
        .expect("a temporal service");
    let image = temporal.1["image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("temporalio/auto-setup:") || image.starts_with("temporalio/server:"),
        "a Temporal cluster, not the dev server: {image}"
    );
    assert_eq!(
        environment(&temporal.1)
            .iter()
            .find(|(n, _)| n == "DB")
            .map(|(_, v)| v.as_str()),
        Some("postgres12")
    );
}

#[test]
fn nothing_runs_as_root_and_no_secret_is_inline() {
    for (name, service) in services(&compose()) {
        let user = service["user"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no user"));
        let uid = user.split(':').next().unwrap_or_default();
        assert!(
            uid != "0" && uid != "root" && !uid.is_empty(),
            "{name} runs as root"
        );
        for (variable, value) in environment(&service) {
            // A secret's name, holding more than a switch (TEMPORAL_CODEC_PASS_ACCESS_TOKEN
            // is a switch).
            let secret = ["PASSWORD", "PWD", "KEY", "KEYS", "TOKEN", "SECRET"]
                .iter()
                .any(|word| variable.ends_with(word))
                && !["true", "false"].contains(&value.as_str());
            if secret {
                assert!(
                    value.starts_with("${") && value.contains(":?"),
                    "{name}: {variable} is inline"
                );
            }
            // scheme://user:password@host: the password, if any, is an interpolation.
            if let Some((_, rest)) = value.split_once("://")
                && let Some((credentials, _)) = rest.split_once('@')
                && let Some((_, password)) = credentials.split_once(':')
            {
                assert!(
                    password.starts_with("${"),
                    "{name}: {variable} carries a password inline"
                );
            }
        }
    }
    let ignored = repository_file(".gitignore");
    assert!(
        ignored
            .lines()
            .any(|line| line.trim() == "/deploy/.env" || line.trim() == "deploy/.env"),
        "deploy/.env is ignored"
    );
}

#[test]
fn djinns_services_use_the_names_and_ports_the_binary_reads() {
    let documented = documented_settings();
    let compose = compose();
    for (name, service) in services(&compose) {
        let Some(dockerfile) = service["build"]["dockerfile"].as_str() else {
            continue;
        };
        assert!(
            ["api.Dockerfile", "worker.Dockerfile"].contains(&dockerfile),
            "{name}: {dockerfile}"
        );
        let variables = environment(&service);
        for (variable, _) in &variables {
            let ours = ["DJINN_", "DATABASE_", "FIREBASE_", "TEMPORAL_"]
                .iter()
                .any(|p| variable.starts_with(p))
                || variable == "PORT";
            assert!(ours, "{name}: {variable} is not a Djinn setting");
            assert!(
                documented.contains(variable),
                "{name}: {variable} is not in .env.example"
            );
        }
        let value = |wanted: &str| {
            variables
                .iter()
                .find(|(n, _)| n == wanted)
                .map(|(_, v)| v.clone())
        };
        if let Some(port) = value("PORT") {
            let published: Vec<String> = service["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect();
            assert!(
                published.iter().any(|p| p.ends_with(&format!(":{port}"))),
                "{name} publishes PORT {port}: {published:?}"
            );
        }
        if let Some(addr) = value("DJINN_METRICS_ADDR") {
            let port = addr.rsplit(':').next().unwrap_or_default();
            let check = service["healthcheck"]["test"].to_string();
            assert!(
                check.contains(&format!(":{port}/healthz")),
                "{name} checks its probe port {port}: {check}"
            );
        }
    }
}

#[test]
fn the_dockerfiles_build_locked_and_run_unprivileged() {
    for (file, health) in [
        (
            "api.Dockerfile",
            "[\"/usr/local/bin/djinn\", \"healthcheck\"]",
        ),
        ("worker.Dockerfile", "healthcheck"),
    ] {
        let text = repository_file(file);
        let froms = text
            .lines()
            .filter(|line| line.starts_with("FROM "))
            .count();
        assert!(froms >= 3, "{file}: multi-stage ({froms} stages)");
        assert!(
            text.contains("cargo chef cook --release --locked"),
            "{file}: dependencies in a layer of their own"
        );
        assert!(
            text.contains("cargo build --release --locked"),
            "{file}: a locked release build"
        );
        let user = text
            .lines()
            .rev()
            .find(|line| line.starts_with("USER "))
            .expect("a USER");
        let uid = user
            .trim_start_matches("USER ")
            .split(':')
            .next()
            .unwrap_or_default();
        assert!(
            uid.parse::<u32>().is_ok_and(|uid| uid != 0),
            "{file}: a fixed numeric non-root user, not {user}"
        );
        assert!(
            text.contains("HEALTHCHECK") && text.contains(health),
            "{file}: a health check"
        );
        for line in text.lines().filter(|line| {
            line.starts_with("ENV ") || line.starts_with("    ") || line.starts_with("ARG ")
        }) {
            for secret in [
                "DATABASE_URL=",
                "DJINN_CODEC_KEYS=",
                "DJINN_OPS_TOKEN=",
                "TEMPORAL_API_KEY=",
            ] {
                assert!(
                    !line.contains(secret),
                    "{file}: a secret in a layer: {line}"
                );
            }
        }
    }
    assert!(repository_file("api.Dockerfile").contains("EXPOSE 8080"));
    let ignored = repository_file(".dockerignore");
    for kept_out in ["target/", ".data/", ".tools/", ".env"] {
        assert!(
            ignored.lines().any(|line| line.trim() == kept_out),
            ".dockerignore keeps out {kept_out}"
        );
    }
}
