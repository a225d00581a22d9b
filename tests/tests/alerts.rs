//! deploy/prometheus/alerts.yaml passes `promtool check rules`, and each alert fires and stays
//! quiet where alerts.test.yaml says (`promtool test rules`).

use std::path::Path;

fn promtool(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let tool = std::env::var("DJINN_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let output = std::process::Command::new(tool)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus"))
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[test]
fn the_rules_check_and_every_alert_fires_and_stays_quiet_as_tested() -> anyhow::Result<()> {
    let (checked, text) = promtool(&["check", "rules", "alerts.yaml"])?;
    assert!(checked && text.contains("SUCCESS: 5 rules found"), "{text}");
    let (tested, text) = promtool(&["test", "rules", "alerts.test.yaml"])?;
    assert!(tested, "{text}");
    // Every alert has a test of its own.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alerts.yaml"),
    )?;
    let tests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alerts.test.yaml"),
    )?;
    for alert in rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
    {
        let tested = tests
            .lines()
            .filter(|line| line.trim() == format!("alertname: {alert}"))
            .count();
        assert!(
            tested >= 2,
            "{alert} is tested firing and not firing ({tested} evaluations)"
        );
    }
    Ok(())
}
