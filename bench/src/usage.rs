//! CPU and memory readings from /proc: of one process (the worker, the API, the Temporal
//! server, the bench itself), of PostgreSQL's whole process tree, and of the whole machine, so
//! each phase can say what it cost, where, and how busy the machine's cores were while it ran.

use anyhow::Context;

/// USER_HZ on Linux: /proc reports CPU time in these ticks.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds and peak RSS of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

pub fn process(pid: u32) -> anyhow::Result<ProcessUsage> {
    let stat = Stat::read(pid)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak_kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmHWM")?
        .parse()?;
    Ok(ProcessUsage {
        cpu_seconds: stat.own_ticks / TICKS_PER_SECOND,
        peak_rss_mib: peak_kib / 1024.0,
    })
}

/// The resident memory of a process now, in bytes.
pub fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    Ok(kib * 1024)
}

/// CPU seconds of a process tree one level deep: the root, the children it has reaped, and the
/// children alive now. PostgreSQL runs one process per connection under its postmaster, and the
/// postmaster reaps those that end, so this counts every backend that ever ran.
pub fn process_tree(root: u32) -> anyhow::Result<f64> {
    let root_stat = Stat::read(root)?;
    let mut ticks = root_stat.own_ticks + root_stat.reaped_children_ticks;
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: it no longer counts here.
        if let Ok(stat) = Stat::read(pid)
            && stat.parent == root
        {
            ticks += stat.own_ticks;
        }
    }
    Ok(ticks / TICKS_PER_SECOND)
}

/// The parent process of `pid`.
pub fn parent(pid: u32) -> anyhow::Result<u32> {
    Ok(Stat::read(pid)?.parent)
}

/// The fields of /proc/PID/stat this module reads.
struct Stat {
    parent: u32,
    /// utime + stime.
    own_ticks: f64,
    /// cutime + cstime: children that ended and were waited for.
    reaped_children_ticks: f64,
}

impl Stat {
    fn read(pid: u32) -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may contain spaces) start after the last ')':
        // state, ppid, ..., utime (11), stime, cutime, cstime.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("a stat line")?
            .1
            .split_whitespace()
            .collect();
        anyhow::ensure!(fields.len() > 14, "a short stat line for {pid}");
        let ticks = |i: usize| fields[i].parse::<f64>();
        Ok(Self {
            parent: fields[1].parse()?,
            own_ticks: ticks(11)? + ticks(12)?,
            reaped_children_ticks: ticks(13)? + ticks(14)?,
        })
    }
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
