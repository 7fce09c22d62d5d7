//! Facts about the machine a benchmark ran on, read from `/proc` (Linux).
//! Anything that cannot be read is reported as `unknown`, never an error: a
//! missing fact must not cost the numbers.

use std::path::Path;

/// The machine a report was measured on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// CPUs of the machine (online), whatever CPUs this process is pinned to.
    pub nproc: usize,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// CPU model (`model name` in `/proc/cpuinfo`).
    pub cpu_model: String,
    /// File system holding the data directory, e.g. `ext4 on /dev/vda`.
    pub data_fs: String,
}

const UNKNOWN: &str = "unknown";

impl MachineInfo {
    /// Reads the facts for a run whose data lives in `data_dir`.
    pub fn probe(data_dir: &Path) -> MachineInfo {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        let nproc = cpuinfo
            .as_deref()
            .map(processors)
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, usize::from));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| UNKNOWN.to_string());
        let cpu_model = cpuinfo
            .as_deref()
            .and_then(cpu_model)
            .unwrap_or_else(|| UNKNOWN.to_string());
        let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let data_fs = std::fs::read_to_string("/proc/mounts")
            .ok()
            .and_then(|m| file_system_of(&canonical, &m))
            .unwrap_or_else(|| UNKNOWN.to_string());
        MachineInfo {
            nproc,
            kernel,
            cpu_model,
            data_fs,
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// How many CPUs a `/proc/cpuinfo` text lists (one `processor` line each).
/// Unlike `available_parallelism`, this does not shrink when the process is
/// pinned (`taskset`), so a pinned harness still reports the machine.
fn processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|line| {
            line.split_once(':')
                .is_some_and(|(key, _)| key.trim() == "processor")
        })
        .count()
}

/// `"<fstype> on <device>"` of the mount holding `path`, from a `/proc/mounts`
/// text: the longest mount point that contains it, the last one on ties
/// (a later mount hides an earlier one at the same place).
fn file_system_of(path: &Path, mounts: &str) -> Option<String> {
    let mut best: Option<(usize, &str, &str)> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount_point = mount_point.replace("\\040", " ");
        if path.starts_with(&mount_point) {
            let depth = Path::new(&mount_point).components().count();
            if best.is_none_or(|(d, _, _)| depth >= d) {
                best = Some((depth, device, fs_type));
            }
        }
    }
    best.map(|(_, device, fs_type)| format!("{fs_type} on {device}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_the_first_model_name_line() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn processors_counts_the_processor_lines() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(processors(text), 2);
        assert_eq!(processors("model name : x\n"), 0);
    }

    #[test]
    fn data_dir_file_system_is_the_deepest_covering_mount() {
        let mounts = "/dev/vda / ext4 rw,relatime 0 0\n\
                      tmpfs /tmp tmpfs rw 0 0\n\
                      /dev/vdb /data xfs rw 0 0\n\
                      /dev/vdc /data xfs rw 0 0\n";
        let fs = |p: &str| file_system_of(Path::new(p), mounts);
        assert_eq!(fs("/tmp/coord-bench-1").as_deref(), Some("tmpfs on tmpfs"));
        assert_eq!(fs("/data/x").as_deref(), Some("xfs on /dev/vdc"));
        assert_eq!(fs("/database").as_deref(), Some("ext4 on /dev/vda"));
        assert_eq!(file_system_of(Path::new("/x"), ""), None);
    }
}
