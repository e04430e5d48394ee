//! A throwaway Docker host inside this machine (DESIGN.md, test tier 4).
//!
//! A new network namespace (`ip netns add`) entered with `nsenter --net`
//! (not `ip netns exec`, which remounts /sys and hides the cgroup mounts),
//! and a new mount namespace (`unshare -m`) in which: `/` is rprivate; `lo`
//! is up; /run is a tmpfs (dockerd's socket, pidfile and exec root are
//! private); a private copy of /etc is bound over /etc; an empty folder is
//! bound over /var/lib/docker (on a machine where dockerd never ran and
//! /var/lib/docker does not exist, /var/lib is first covered by an overlay
//! whose upper layer is in the work folder, so that the mount point is made
//! there and not on the machine); /tmp (without nosuid) and /var/tmp are
//! tmpfs.
//! A keeper process (`sleep`) holds the namespaces; every command enters
//! them with `nsenter -t KEEPER -m -n`. dockerd runs with default paths and
//! its own cgroup parent, started and restarted by a script that stands in
//! for the service manager (it is also dockhard's `restart_command`).
//!
//! Everything is bounded in time, and every failure panics with what was
//! seen: these tests never skip. Drop removes containers, stops dockerd and
//! every process of the sandbox (found by mount namespace and cgroup),
//! removes the cgroups, the network namespace and the work folder.

#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command in the sandbox may take.
pub const STEP: Duration = Duration::from_secs(120);

/// The output of a command.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Runs `cmd` for at most `limit`; kills it and panics when it overruns.
pub fn run(cmd: &mut Command, limit: Duration) -> Out {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
    .collect();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut texts = readers.into_iter().map(|r| r.join().unwrap());
    Out {
        code: status.code().unwrap_or(-1),
        stdout: texts.next().unwrap(),
        stderr: texts.next().unwrap(),
    }
}

/// Panics unless every program the sandbox needs is installed and this
/// runs as root.
pub fn require_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the sandbox tests need root (CI runs as root)"
    );
    for tool in [
        "dockerd",
        "docker",
        "containerd",
        "busybox",
        "nsenter",
        "unshare",
        "ip",
        "iptables",
        "setpriv",
        "tar",
    ] {
        let found = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .chain(["/usr/sbin", "/sbin"])
            .any(|dir| Path::new(dir).join(tool).exists());
        assert!(
            found,
            "`{tool}` is missing: install docker.io, iptables and busybox-static (.ci/run does)"
        );
    }
    let busybox = which("busybox");
    let kind = run(Command::new("file").arg(&busybox), STEP);
    assert!(
        !kind.ok() || kind.stdout.contains("statically linked"),
        "{} is not statically linked (install busybox-static): {}",
        busybox.display(),
        kind.stdout
    );
}

fn which(tool: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("`{tool}` not found"))
}

/// The script that stands in for the service manager: stops the running
/// dockerd (its pidfile), starts a new one in the background with the
/// flags of `dockerd.flags`, and waits until it answers. Exits 1 (with the
/// end of dockerd's log) when dockerd does not come up.
const RESTART_SCRIPT: &str = r#"#!/bin/sh
log=/run/dockerd.log
alive() { s=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' /proc/$1/status 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }
if [ -s /run/docker.pid ]; then
  pid=$(cat /run/docker.pid)
  kill "$pid" 2>/dev/null
  n=0
  while alive "$pid"; do
    n=$((n+1)); if [ $n -gt 400 ]; then echo "dockerd ($pid) did not stop within 40 s" >&2; exit 1; fi
    sleep 0.1
  done
fi
flags=$(cat '@WORK@/dockerd.flags')
echo "--- $(date +%T.%N) dockerd --cgroup-parent=@CG@ $flags" >>$log
setsid dockerd --cgroup-parent=@CG@ $flags >>$log 2>&1 </dev/null &
new=$!
n=0
until docker version >/dev/null 2>&1; do
  if ! alive $new; then echo "dockerd exited: $(tail -n 2 $log)" >&2; exit 1; fi
  n=$((n+1)); if [ $n -gt 400 ]; then echo "dockerd does not answer within 40 s" >&2; exit 1; fi
  sleep 0.1
done
"#;

/// A running sandbox host.
pub struct Sandbox {
    pub name: String,
    pub work: PathBuf,
    keeper: Option<Child>,
    pub keeper_pid: u32,
    cgroup: String,
    /// From the first command to a dockerd that answers with an image.
    pub start_time: Duration,
}

impl Sandbox {
    /// Builds the sandbox and starts dockerd with `flags` (hidden from
    /// dockhard: they are not in any unit), then imports the busybox image
    /// as `bb:1`.
    pub fn start(label: &str, flags: &str) -> Sandbox {
        require_tools();
        let begun = Instant::now();
        let name = format!("dh-{label}-{}", std::process::id());
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sandbox-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("docker")).unwrap();
        std::fs::create_dir_all(work.join("bin")).unwrap();
        let cgroup = format!("/dockhard-{name}");
        let mut sandbox = Sandbox {
            name: name.clone(),
            work: work.clone(),
            keeper: None,
            keeper_pid: 0,
            cgroup: cgroup.clone(),
            start_time: Duration::ZERO,
        };
        // Private /etc.
        let cp = run(
            Command::new("cp").arg("-a").arg("/etc").arg(work.join("etc")),
            STEP,
        );
        assert!(cp.ok(), "copying /etc: {}", cp.stderr);
        // The image: busybox and a few applet links.
        let rootfs = work.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy(which("busybox"), rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "ping", "id", "sleep", "nc", "true", "cat"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let tar = run(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(work.join("image.tar"))
                .arg("."),
            STEP,
        );
        assert!(tar.ok(), "tar: {}", tar.stderr);
        // The restart script.
        let script = RESTART_SCRIPT
            .replace("@WORK@", work.to_str().unwrap())
            .replace("@CG@", &cgroup);
        std::fs::write(sandbox.restart_script(), script).unwrap();
        std::fs::set_permissions(sandbox.restart_script(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(work.join("dockerd.flags"), flags).unwrap();
        // The binary under test, where the sandbox sees it (the build may
        // be under /tmp, which the sandbox covers with its own tmpfs).
        std::fs::copy(env!("CARGO_BIN_EXE_dockhard"), work.join("bin/dockhard")).unwrap();

        let add = run(Command::new("ip").args(["netns", "add", &name]), STEP);
        assert!(add.ok(), "ip netns add {name}: {}", add.stderr);
        // The work folder may itself be under /tmp or /run (a clone in /tmp):
        // it is held open across the tmpfs mounts and bound back at the
        // same path, so every script can use its paths inside the sandbox.
        let setup = format!(
            "set -e
mount --make-rprivate /
ip link set lo up
exec 3<'{w}'
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p '{w}'
mount --no-canonicalize --bind /proc/self/fd/3 '{w}'
exec 3<&-
mount --bind '{w}/etc' /etc
if [ ! -d /var/lib/docker ]; then
  mkdir -p '{w}/varlib/upper' '{w}/varlib/work'
  mount -t overlay -o 'lowerdir=/var/lib,upperdir={w}/varlib/upper,workdir={w}/varlib/work' overlay /var/lib
  mkdir /var/lib/docker
fi
mount --bind '{w}/docker' /var/lib/docker
echo ready
exec sleep 3600",
            w = work.display()
        );
        let mut keeper = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{name}"))
            .args(["unshare", "-m", "sh", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter runs");
        sandbox.keeper_pid = keeper.id();
        let mut stdout = keeper.stdout.take().unwrap();
        sandbox.keeper = Some(keeper);
        let mut line = [0u8; 6];
        if stdout.read_exact(&mut line).is_err() || &line != b"ready\n" {
            let mut err = String::new();
            if let Some(child) = sandbox.keeper.as_mut() {
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            }
            panic!("the sandbox's mount namespace could not be set up: {err}");
        }
        sandbox.restart_dockerd();
        sandbox.import_image();
        sandbox.start_time = begun.elapsed();
        sandbox
    }

    pub fn restart_script(&self) -> PathBuf {
        self.work.join("bin/dockerd-restart")
    }

    /// Runs a shell script inside the sandbox.
    pub fn sh(&self, script: &str) -> Out {
        run(
            Command::new("nsenter").args([
                "-t",
                &self.keeper_pid.to_string(),
                "-m",
                "-n",
                "sh",
                "-c",
                script,
            ]),
            STEP,
        )
    }

    /// Mounts a fresh tmpfs (with `options`) over `path` inside the sandbox,
    /// keeping the sandbox's work folder visible when it lies below `path`
    /// (a build under /tmp): it is held open across the mount and bound back.
    pub fn mount_tmpfs_over(&self, path: &str, options: &str) {
        self.sh_ok(&format!(
            "exec 3<'{w}' && mount -t tmpfs -o {options} tmpfs '{path}' && mkdir -p '{w}' && \
             mount --no-canonicalize --bind /proc/self/fd/3 '{w}'",
            w = self.work.display()
        ));
    }

    /// Runs a shell script inside the sandbox; panics unless it exits 0.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.ok(),
            "in the sandbox `{script}` failed ({}):\n{}\n{}",
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs dockhard inside the sandbox, on the live root `/`, with its
    /// state under the sandbox's /run.
    pub fn dockhard(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.keeper_pid.to_string(), "-m", "-n", "--"])
            .arg(self.work.join("bin/dockhard"))
            .args(["--root", "/", "--state-dir", "/run/dockhard"])
            .args(args)
            .env("NO_COLOR", "1")
            // No audit record in the machine's system log from a test.
            .env("DOCKHARD_SYSLOG_SOCKET", "");
        run(&mut cmd, Duration::from_secs(300))
    }

    /// A path inside the sandbox's mount namespace, seen from outside.
    pub fn path(&self, path: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{path}", self.keeper_pid))
    }

    pub fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.path(path)).unwrap_or_else(|e| panic!("{path} in the sandbox: {e}"))
    }

    pub fn write(&self, path: &str, content: &[u8]) {
        let p = self.path(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("{path} in the sandbox: {e}"));
    }

    /// Restarts dockerd the way the service manager would.
    pub fn restart_dockerd(&self) {
        self.sh_ok(&self.restart_script().display().to_string());
    }

    pub fn dockerd_answers(&self) -> bool {
        self.sh("docker version >/dev/null 2>&1").ok()
    }

    /// Imports the busybox image as `bb:1` (again after userns-remap hid it).
    pub fn import_image(&self) {
        self.sh_ok(&format!(
            "docker image inspect bb:1 >/dev/null 2>&1 || docker import '{}' bb:1 >/dev/null",
            self.work.join("image.tar").display()
        ));
    }

    /// Whether two containers on the default bridge can ping each other.
    pub fn containers_ping(&self) -> bool {
        let out = self.sh("set -e
docker rm -f pa pb >/dev/null 2>&1 || true
docker run -d --name pa bb:1 sleep 120 >/dev/null
docker run -d --name pb bb:1 sleep 120 >/dev/null
ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' pa)
rc=0; docker exec pb ping -c 1 -W 2 \"$ip\" >/dev/null 2>&1 || rc=$?
docker rm -f pa pb >/dev/null
exit $rc");
        out.ok()
    }

    /// The host uid of a container's root (its process's real uid).
    pub fn container_root_uid(&self) -> u32 {
        let pid = self.sh_ok(
            "docker rm -f pu >/dev/null 2>&1; docker run -d --name pu bb:1 sleep 120 >/dev/null && docker inspect -f '{{.State.Pid}}' pu",
        );
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        self.sh_ok("docker rm -f pu >/dev/null");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .unwrap_or_else(|| panic!("no Uid line: {status}"))
    }

    /// The effective uid a non-root user (nobody) gets from a setuid-root
    /// copy of `id` in /tmp.
    pub fn setuid_id_euid(&self) -> u32 {
        let id = which("id");
        let out = self.sh_ok(&format!(
            "cp '{}' /tmp/id-setuid && chown 0:0 /tmp/id-setuid && chmod 4755 /tmp/id-setuid && \
             setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/id-setuid -u",
            id.display()
        ));
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("id printed {out:?}"))
    }

    /// The default bridge's gateway (docker0's address).
    pub fn gateway(&self) -> String {
        let out = self.sh_ok("ip -4 -o addr show docker0");
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no address on docker0: {out}"))
            .to_string()
    }

    /// Whether a container can open a TCP connection to `port` on the
    /// bridge gateway (the host side), where a busybox listener waits.
    pub fn container_reaches_host_port(&self, port: u16) -> bool {
        let gw = self.gateway();
        self.sh_ok(&format!(
            "p=/run/listener-{port}.pid; if ! [ -s $p ] || ! kill -0 $(cat $p) 2>/dev/null; then \
             setsid busybox nc -ll -p {port} -e /bin/true >/dev/null 2>&1 </dev/null & echo $! >$p; sleep 0.3; fi"
        ));
        let out = self.sh(&format!(
            "docker run --rm bb:1 sh -c 'echo x | nc -w 3 {gw} {port}' >/dev/null 2>&1"
        ));
        out.ok()
    }

    /// dockhard's rules in the sandbox's firewall, both back ends.
    pub fn tagged_rules(&self) -> Vec<String> {
        let mut rules = Vec::new();
        for save in ["iptables-nft-save", "iptables-legacy-save"] {
            let out = self.sh(&format!("{save} 2>/dev/null"));
            rules.extend(
                out.stdout
                    .lines()
                    .filter(|l| l.contains("dockhard:"))
                    .map(|l| format!("{save}: {l}")),
            );
        }
        rules
    }

    /// Every process of the sandbox: in its mount namespace or its cgroups.
    fn processes(&self) -> Vec<i32> {
        let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/mnt", self.keeper_pid)) else {
            return Vec::new();
        };
        let mut pids: Vec<i32> = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid as u32 == self.keeper_pid || pid as u32 == std::process::id() {
                continue;
            }
            if std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().as_ref() == Some(&ns) {
                pids.push(pid);
            }
        }
        for dir in self.cgroup_dirs() {
            for entry in walkdir::WalkDir::new(&dir).into_iter().flatten() {
                if entry.file_name() == "cgroup.procs"
                    && let Ok(text) = std::fs::read_to_string(entry.path())
                {
                    pids.extend(text.lines().filter_map(|l| l.parse::<i32>().ok()));
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(self.cgroup.trim_start_matches('/')))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Stops dockerd and every process of the sandbox.
    pub fn stop(&mut self) {
        if self.keeper.is_none() {
            return;
        }
        let _ = run(
            Command::new("nsenter")
                .args(["-t", &self.keeper_pid.to_string(), "-m", "-n", "sh", "-c"])
                .arg(
                    "ids=$(docker ps -aq 2>/dev/null); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null 2>&1; \
                     [ -s /run/docker.pid ] && kill $(cat /run/docker.pid) 2>/dev/null; \
                     n=0; while [ -s /run/docker.pid ] && [ $n -lt 150 ]; do n=$((n+1)); sleep 0.1; done; true",
                ),
            Duration::from_secs(60),
        );
        for _ in 0..50 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(mut keeper) = self.keeper.take() {
            let _ = keeper.kill();
            let _ = keeper.wait();
        }
        // Cgroups, deepest first.
        for dir in self.cgroup_dirs() {
            let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_dir())
                .map(|e| e.into_path())
                .collect();
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = std::fs::remove_dir(&d);
            }
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.name]), STEP);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
        let leftover = self.processes();
        let cgroups = self.cgroup_dirs();
        let _ = std::fs::remove_dir_all(&self.work);
        if !std::thread::panicking() {
            assert!(leftover.is_empty(), "sandbox processes left: {leftover:?}");
            assert!(cgroups.is_empty(), "sandbox cgroups left: {cgroups:?}");
            assert!(
                !Path::new("/run/netns").join(&self.name).exists(),
                "network namespace {} left",
                self.name
            );
        }
    }
}

/// What must not change on this machine: its firewall (both back ends),
/// its mounts, /etc, and its set-id files.
#[derive(Debug, PartialEq, Eq)]
pub struct MachineState {
    pub firewall: Vec<String>,
    pub mounts: Vec<String>,
    pub etc: BTreeMap<String, String>,
    pub setid: BTreeMap<String, u32>,
}

impl MachineState {
    pub fn capture() -> MachineState {
        let mut firewall = Vec::new();
        for save in ["iptables-nft-save", "iptables-legacy-save"] {
            let out = run(&mut Command::new(save), STEP);
            firewall.extend(
                out.stdout
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    // Packet counters change with traffic.
                    .map(|l| format!("{save}: {}", strip_counters(l))),
            );
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Network namespaces (this test's and others') come and go;
                // the first `ip netns add` on a machine also mounts
                // /run/netns itself, and that mount stays.
                (f.len() > 5 && f[4] != "/run/netns" && !f[4].starts_with("/run/netns/"))
                    .then(|| format!("{} {}", f[4], f[5]))
            })
            .collect();
        let mut etc = BTreeMap::new();
        for entry in walkdir::WalkDir::new("/etc").into_iter().flatten() {
            let meta = match entry.path().symlink_metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            let what = if meta.is_file() {
                let data = std::fs::read(entry.path()).unwrap_or_default();
                format!("{:o} {}", meta.mode(), hex(&Sha256::digest(&data)))
            } else if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(entry.path()).unwrap().display())
            } else {
                format!("{:o}", meta.mode())
            };
            etc.insert(entry.path().display().to_string(), what);
        }
        let mut setid = BTreeMap::new();
        for dir in ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec", "/usr/local"] {
            for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
                if let Ok(meta) = entry.path().symlink_metadata()
                    && meta.is_file()
                    && meta.mode() & 0o6000 != 0
                {
                    setid.insert(entry.path().display().to_string(), meta.mode() & 0o7777);
                }
            }
        }
        MachineState {
            firewall,
            mounts,
            etc,
            setid,
        }
    }

    /// Panics with the differences.
    pub fn assert_same(&self, after: &MachineState) {
        assert_eq!(self.setid, after.setid, "the machine's set-id files changed");
        assert_eq!(self.firewall, after.firewall, "the machine's firewall changed");
        assert_eq!(self.mounts, after.mounts, "the machine's mounts changed");
        let changed: Vec<&String> = self
            .etc
            .keys()
            .chain(after.etc.keys())
            .filter(|k| self.etc.get(*k) != after.etc.get(*k))
            .collect();
        assert!(changed.is_empty(), "the machine's /etc changed: {changed:?}");
        assert!(!self.setid.is_empty(), "no set-id file found on the machine");
    }
}

fn strip_counters(line: &str) -> String {
    // `:CHAIN POLICY [packets:bytes]`
    match line.rfind(" [") {
        Some(i) if line.starts_with(':') => line[..i].to_string(),
        _ => line.to_string(),
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
