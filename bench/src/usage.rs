//! CPU and memory readings from /proc: of one process (the worker, the API, the Temporal
//! server) and of the whole machine, so each phase can say what it cost and how busy the two
//! cores were while it ran.

use anyhow::Context;

/// USER_HZ on Linux: /proc reports CPU time in these ticks.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds and peak RSS of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

pub fn process(pid: u32) -> anyhow::Result<ProcessUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a stat line")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak_kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmHWM")?
        .parse()?;
    Ok(ProcessUsage {
        cpu_seconds: ticks / TICKS_PER_SECOND,
        peak_rss_mib: peak_kib / 1024.0,
    })
}

/// The whole machine's CPU time so far, in ticks: (busy, total).
pub fn machine() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("the cpu line of /proc/stat")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(ticks.len() >= 8, "a short cpu line in /proc/stat");
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: f64 = ticks.iter().take(8).sum();
    Ok((total - ticks[3] - ticks[4], total))
}
