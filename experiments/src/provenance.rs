//! Where a result comes from: the commit the binary was built from and the
//! machine it ran on, written into `summary.json` and shown by reports.

use serde::{Deserialize, Serialize};

/// The machine a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Operating system and architecture (`linux x86_64`).
    pub os: String,
    /// CPU model, as the OS names it (`unknown` where it does not say).
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Total memory in GiB, where the OS says.
    pub memory_gib: Option<f64>,
}

impl Machine {
    /// The machine this process runs on.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_gib(&meminfo),
        }
    }
}

impl core::fmt::Display for Machine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}, {} ({} cores", self.cpu, self.os, self.cores)?;
        if let Some(m) = self.memory_gib {
            write!(f, ", {m:.0} GiB")?;
        }
        f.write_str(")")
    }
}

/// `model name` of the first processor in `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `MemTotal` of `/proc/meminfo`, in GiB.
fn memory_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// The commit and machine of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git describe --always --dirty` of the source the binary was built
    /// from (`unknown` when built outside a git checkout).
    pub commit: String,
    /// The crate version.
    pub version: String,
    /// The machine.
    pub machine: Machine,
    /// The process that ran it (in a sweep, the worker).
    #[serde(default)]
    pub worker: Option<Worker>,
}

/// A process on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
}

impl Provenance {
    /// This binary on this machine.
    pub fn current() -> Self {
        Provenance {
            commit: env!("USAM_GIT_COMMIT").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            machine: Machine::current(),
            worker: Some(Worker {
                host: crate::lock::hostname(),
                pid: std::process::id(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_and_odd_ones_give_none() {
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(cpu).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        let mem = "MemTotal:       25165824 kB\nMemFree: 1 kB\n";
        assert_eq!(memory_gib(mem), Some(24.0));
        assert_eq!(memory_gib("MemTotal: lots\n"), None);
        let here = Machine::current();
        assert!(here.cores >= 1 && !here.os.is_empty());
        assert!(!Provenance::current().commit.is_empty());
    }
}
