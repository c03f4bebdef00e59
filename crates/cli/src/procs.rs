//! Node processes of a local network: start detached with a pid file and a log file
//! each, find out whether they run, stop them with SIGTERM and, past a deadline, SIGKILL.

use anyhow::{Context, Result};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use teechain_node::config::{NetworkConfig, NodeEntry, NODE_FILE};

/// Files of one node process.
pub(crate) struct NodeFiles {
    pub(crate) pid: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) config: PathBuf,
}

pub(crate) fn files(dir: &Path, node: &NodeEntry) -> NodeFiles {
    let data = dir.join(&node.data_dir);
    NodeFiles { pid: data.join("node.pid"), log: data.join("node.log"), config: data.join(NODE_FILE) }
}

/// The pid of a node if its process is alive.
pub(crate) fn running_pid(files: &NodeFiles) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(&files.pid).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); /proc tells whether it has exited.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Starts `teechain node start --config ...` for `node`, detached in its own process
/// group, output appended to its log. Returns the pid.
pub(crate) fn start(dir: &Path, node: &NodeEntry) -> Result<i32> {
    let f = files(dir, node);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&f.log)
        .with_context(|| format!("opening {}", f.log.display()))?;
    let exe = std::env::current_exe().context("locating the teechain binary")?;
    let child = Command::new(exe)
        .args(["node", "start", "--config"])
        .arg(&f.config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", node.name))?;
    let pid = child.id() as i32;
    std::fs::write(&f.pid, pid.to_string()).with_context(|| format!("writing {}", f.pid.display()))?;
    Ok(pid)
}

fn signal(pid: i32, sig: &str) {
    // `kill` from procps: no unsafe code for one signal.
    let _ = Command::new("kill").args([sig, &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Stops a node: SIGTERM, then SIGKILL if it has not exited within `grace`.
/// Returns whether it had to be killed.
pub(crate) fn stop(files: &NodeFiles, grace: Duration) -> Result<bool> {
    let Some(pid) = running_pid(files) else {
        let _ = std::fs::remove_file(&files.pid);
        return Ok(false);
    };
    signal(pid, "-TERM");
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            let _ = std::fs::remove_file(&files.pid);
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, "-KILL");
    let _ = std::fs::remove_file(&files.pid);
    Ok(true)
}

/// Every node of the network with its files.
pub(crate) fn all(dir: &Path, config: &NetworkConfig) -> Vec<(NodeEntry, NodeFiles)> {
    config.active_nodes().map(|n| (n.clone(), files(dir, n))).collect()
}
