//! Facts about the host the Node reports: cores, memory, the root
//! filesystem, PIDs, machine and boot IDs, kernel and OS. Each fact is a
//! pure function over the text of its /proc or /etc file (tested with
//! tables), read by thin readers that fall back to "unknown" when a file
//! is missing.

use std::path::Path;

/// `/proc/meminfo`, the fields the kubelet uses (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total: u64,
    pub free: u64,
    pub available: u64,
    pub inactive_file: u64,
    /// Anonymous pages (the host's RSS).
    pub anon: u64,
}

impl MemInfo {
    /// Memory in use: total − free.
    pub fn usage(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }

    /// The working set as upstream computes it: usage − inactive file pages.
    pub fn working_set(&self) -> u64 {
        self.usage().saturating_sub(self.inactive_file)
    }

    /// `memory.available` as the eviction manager sees it: capacity − working set.
    pub fn eviction_available(&self) -> u64 {
        self.total.saturating_sub(self.working_set())
    }
}

/// Parses `/proc/meminfo` (`MemTotal:  16315692 kB` lines).
pub fn parse_meminfo(text: &str) -> MemInfo {
    let mut info = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let mut words = rest.split_whitespace();
        let Some(Ok(number)) = words.next().map(str::parse::<u64>) else { continue };
        let bytes = match words.next() {
            Some("kB") => number.saturating_mul(1024),
            _ => number,
        };
        match key.trim() {
            "MemTotal" => info.total = bytes,
            "MemFree" => info.free = bytes,
            "MemAvailable" => info.available = bytes,
            "Inactive(file)" => info.inactive_file = bytes,
            "AnonPages" => info.anon = bytes,
            _ => {}
        }
    }
    info
}

/// The number of CPUs in a kernel CPU list (`0-3,8,10-11` → 7).
pub fn parse_cpu_list(list: &str) -> Option<u32> {
    let mut count = 0u32;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.trim().parse::<u32>().ok()?, last.trim().parse::<u32>().ok()?),
            None => {
                let cpu = part.trim().parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        count += last.checked_sub(first)? + 1;
    }
    (count > 0).then_some(count)
}

/// The CPUs this process may run on, from `/proc/self/status`'s `Cpus_allowed_list`.
pub fn parse_cpus_allowed(status: &str) -> Option<u32> {
    status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).and_then(parse_cpu_list)
}

/// `PRETTY_NAME` from `/etc/os-release` (quotes and escapes removed).
pub fn parse_os_release_pretty_name(text: &str) -> Option<String> {
    let value = text.lines().find_map(|line| line.trim().strip_prefix("PRETTY_NAME="))?;
    let value = value.trim();
    let unquoted = match value.as_bytes().first() {
        Some(q @ (b'"' | b'\'')) if value.len() >= 2 && value.as_bytes()[value.len() - 1] == *q => {
            &value[1..value.len() - 1]
        }
        _ => value,
    };
    let mut out = String::with_capacity(unquoted.len());
    let mut chars = unquoted.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('"' | '\\' | '$' | '`' | '\''))) => {
                out.push(next);
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    Some(out).filter(|s| !s.is_empty())
}

/// The busy CPU time of the whole host (nanoseconds) from `/proc/stat`'s
/// `cpu` line: user + nice + system + irq + softirq + steal, in USER_HZ ticks.
pub fn parse_proc_stat_cpu_nanos(text: &str, ticks_per_second: u64) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Some(busy.saturating_mul(1_000_000_000 / ticks_per_second.max(1)))
}

/// The number of threads on the host from `/proc/loadavg` (`0.1 0.2 0.3 2/345 6789` → 345).
pub fn parse_loadavg_threads(text: &str) -> Option<u64> {
    let field = text.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

/// Page faults and major page faults since boot, from `/proc/vmstat`.
pub fn parse_vmstat_faults(text: &str) -> (u64, u64) {
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (value("pgfault"), value("pgmajfault"))
}

/// `/proc/vmstat`'s page faults and major page faults.
pub fn read_vmstat_faults() -> (u64, u64) {
    read("/proc/vmstat").as_deref().map(parse_vmstat_faults).unwrap_or_default()
}

/// One trimmed line from a file such as `/etc/machine-id`.
pub fn parse_id(text: &str) -> String {
    text.trim().to_owned()
}

/// Size and free space of a filesystem (bytes and inodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsStats {
    pub capacity: u64,
    pub available: u64,
    pub used: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

impl FsStats {
    /// From the `statvfs` of the filesystem.
    pub fn from_statvfs(stat: &rustix::fs::StatVfs) -> Self {
        let block = if stat.f_frsize > 0 { stat.f_frsize } else { stat.f_bsize };
        Self {
            capacity: stat.f_blocks.saturating_mul(block),
            available: stat.f_bavail.saturating_mul(block),
            used: stat.f_blocks.saturating_sub(stat.f_bfree).saturating_mul(block),
            inodes: stat.f_files,
            inodes_free: stat.f_ffree,
        }
    }
}

/// Usage of the filesystem holding `path` (zeros when it cannot be read).
pub fn fs_stats(path: &Path) -> FsStats {
    // The directory may not exist yet: ask for its closest existing ancestor.
    let mut dir = path;
    loop {
        if let Ok(stat) = rustix::fs::statvfs(dir) {
            return FsStats::from_statvfs(&stat);
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return FsStats::default(),
        }
    }
}

/// Everything about the host the Node's status reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub cpus: u32,
    pub memory: MemInfo,
    /// The filesystem of the kubelet's root dir (nodefs).
    pub root_fs: FsStats,
    /// `/proc/sys/kernel/pid_max`.
    pub pid_max: u64,
    /// Threads running on the host.
    pub processes: u64,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub kernel_version: String,
    pub os_image: String,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The cores this process may use (affinity), at least 1.
pub fn read_cpus() -> u32 {
    read("/proc/self/status")
        .as_deref()
        .and_then(parse_cpus_allowed)
        .or_else(|| std::thread::available_parallelism().ok().and_then(|n| u32::try_from(n.get()).ok()))
        .unwrap_or(1)
}

/// `/proc/meminfo`.
pub fn read_meminfo() -> MemInfo {
    read("/proc/meminfo").as_deref().map(parse_meminfo).unwrap_or_default()
}

/// `pid_max` and the threads running now.
pub fn read_pids() -> (u64, u64) {
    let pid_max = read("/proc/sys/kernel/pid_max").and_then(|t| t.trim().parse().ok()).unwrap_or(32_768);
    let threads = read("/proc/loadavg").as_deref().and_then(parse_loadavg_threads).unwrap_or(0);
    (pid_max, threads)
}

/// The host's busy CPU time in nanoseconds (`/proc/stat`; USER_HZ is 100 on Linux).
pub fn read_cpu_usage_nanos() -> Option<u64> {
    read("/proc/stat").as_deref().and_then(|text| parse_proc_stat_cpu_nanos(text, 100))
}

/// The host's boot time (from `/proc/stat`'s `btime`).
pub fn read_boot_time() -> Option<jiff::Timestamp> {
    let text = read("/proc/stat")?;
    let seconds = text.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()?;
    jiff::Timestamp::from_second(seconds).ok()
}

/// Reads every fact; `root_dir` names the nodefs.
pub fn read_host_facts(root_dir: &Path) -> HostFacts {
    let (pid_max, processes) = read_pids();
    let uname = rustix::system::uname();
    HostFacts {
        cpus: read_cpus(),
        memory: read_meminfo(),
        root_fs: fs_stats(root_dir),
        pid_max,
        processes,
        machine_id: read("/etc/machine-id").as_deref().map(parse_id).unwrap_or_default(),
        system_uuid: read("/sys/class/dmi/id/product_uuid").as_deref().map(parse_id).unwrap_or_default(),
        boot_id: read("/proc/sys/kernel/random/boot_id").as_deref().map(parse_id).unwrap_or_default(),
        kernel_version: uname.release().to_string_lossy().into_owned(),
        os_image: read("/etc/os-release").as_deref().and_then(parse_os_release_pretty_name).unwrap_or_default(),
    }
}

/// The Go names of this machine's OS and architecture (`linux`, `amd64`), as the labels and nodeInfo spell them.
pub fn go_os_arch() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "arm" => "arm",
        other => other,
    };
    (std::env::consts::OS, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_are_read_in_bytes() {
        let text = "MemTotal:       16315692 kB\nMemFree:         1000000 kB\nMemAvailable:    9000000 kB\n\
                    Buffers:          100 kB\nInactive(file):  2000000 kB\nHugePages_Total:       0\n";
        let info = parse_meminfo(text);
        assert_eq!(info.total, 16_315_692 * 1024);
        assert_eq!(info.free, 1_000_000 * 1024);
        assert_eq!(info.available, 9_000_000 * 1024);
        assert_eq!(info.working_set(), (16_315_692 - 1_000_000 - 2_000_000) * 1024);
        assert_eq!(info.eviction_available(), 3_000_000 * 1024);
        assert_eq!(parse_meminfo("garbage\n"), MemInfo::default());
    }

    #[test]
    fn cpu_lists_count_their_cpus() {
        let cases = [
            ("0", Some(1)),
            ("0-3", Some(4)),
            ("0-3,8,10-11", Some(7)),
            ("0-1\n", Some(2)),
            ("", None),
            ("3-1", None),
            ("x", None),
        ];
        for (list, want) in cases {
            assert_eq!(parse_cpu_list(list), want, "{list:?}");
        }
        let status = "Name:\tcat\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\nMems_allowed_list:\t0\n";
        assert_eq!(parse_cpus_allowed(status), Some(4));
    }

    #[test]
    fn os_release_pretty_names_lose_their_quotes() {
        let cases = [
            ("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n", Some("Debian GNU/Linux 13 (trixie)")),
            ("PRETTY_NAME='Alpine Linux v3.20'", Some("Alpine Linux v3.20")),
            ("PRETTY_NAME=Plain", Some("Plain")),
            ("PRETTY_NAME=\"say \\\"hi\\\"\"", Some("say \"hi\"")),
            ("PRETTY_NAME=\"\"", None),
            ("NAME=x", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_os_release_pretty_name(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn proc_stat_gives_busy_cpu_time_and_loadavg_the_threads() {
        let stat = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 50 10 15 500 25 2 2 5 0 0\nbtime 1700000000\n";
        assert_eq!(parse_proc_stat_cpu_nanos(stat, 100), Some(170 * 10_000_000));
        assert_eq!(parse_proc_stat_cpu_nanos("intr 1\n", 100), None);
        assert_eq!(parse_loadavg_threads("0.10 0.20 0.30 2/345 6789\n"), Some(345));
        assert_eq!(parse_loadavg_threads("0.10"), None);
        assert_eq!(parse_vmstat_faults("pgfault 1234\npgmajfault 56\npgfree 9\n"), (1234, 56));
    }

    #[test]
    fn statvfs_counts_fragments_and_available_blocks() {
        let stats = fs_stats(Path::new("/definitely/missing/dir"));
        assert!(stats.capacity > 0, "falls back to the closest existing ancestor");
        assert!(stats.available <= stats.capacity);
    }
}
