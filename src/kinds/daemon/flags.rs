//! # dockerd's command line
//!
//! The effective `ExecStart=` of docker.service (unit + drop-ins, resets
//! honoured), its `Environment=` and `EnvironmentFile=` variables expanded,
//! and the flags parsed the way dockerd's flag library (pflag) reads them:
//! `-H x`, `-H=x`, `-Hx`, `--host x`, `--host=x`, bare boolean flags. Each
//! flag is mapped to the daemon.json key dockerd compares it with when it
//! looks for directives given both ways.

use crate::error::Result;
use crate::host::HostRoot;
use crate::kinds::systemd::{self, Unit};

/// One flag as given on dockerd's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Long name without dashes (`host` for `-H`).
    pub name: String,
    /// The daemon.json key this flag conflicts with (`hosts` for `host`);
    /// `None` for flags that are not configuration (`--config-file`).
    pub key: Option<String>,
    /// The value; `None` for a bare boolean flag (which means true).
    pub value: Option<String>,
    /// The flag as written (`-H tcp://…`, `--icc=false`).
    pub written: String,
    /// The command-line words the flag took (one or two).
    pub words: Vec<String>,
    /// The environment variables the flag came from, if any (`$DOCKER_OPTS`).
    pub via: Option<String>,
    /// Where the `ExecStart=` line is.
    pub file: String,
    pub line: usize,
}

impl Flag {
    /// The value of a boolean flag: bare = true; `None` if not a boolean.
    pub fn bool_value(&self) -> Option<bool> {
        match self.value.as_deref() {
            None => Some(true),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Some(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Some(false),
            Some(_) => None,
        }
    }

    /// `/etc/…/override.conf:2 (--icc=false)`.
    pub fn place(&self) -> String {
        let via = self.via.as_ref().map(|v| format!(" via {v}")).unwrap_or_default();
        format!("{} in {}:{}{via}", self.written, self.file, self.line)
    }
}

/// Flags that take no value (`--icc` = `--icc=true`).
const BOOL_FLAGS: &[&str] = &[
    "debug",
    "icc",
    "ip-forward",
    "ip-forward-no-drop",
    "ip-masq",
    "iptables",
    "ip6tables",
    "ipv6",
    "live-restore",
    "no-new-privileges",
    "userland-proxy",
    "selinux-enabled",
    "tls",
    "tlsverify",
    "experimental",
    "raw-logs",
    "init",
    "rootless",
    "validate",
    "version",
    "help",
    "disable-legacy-registry",
    "bridge-accept-fwmark",
];

/// Shorthands of dockerd's flags.
fn long_name(short: char) -> Option<&'static str> {
    Some(match short {
        'H' => "host",
        'D' => "debug",
        'l' => "log-level",
        'G' => "group",
        'g' => "graph",
        'b' => "bridge",
        'p' => "pidfile",
        's' => "storage-driver",
        'e' => "exec-driver",
        'v' => "version",
        'h' => "help",
        _ => return None,
    })
}

/// The daemon.json key a flag conflicts with.
pub fn config_key(name: &str) -> Option<String> {
    let key = match name {
        "config-file" | "validate" | "version" | "help" => return None,
        "host" => "hosts",
        "insecure-registry" => "insecure-registries",
        "registry-mirror" => "registry-mirrors",
        "label" => "labels",
        "log-opt" => "log-opts",
        "storage-opt" => "storage-opts",
        "exec-opt" => "exec-opts",
        "dns-opt" => "dns-opts",
        "authorization-plugin" => "authorization-plugins",
        "add-runtime" => "runtimes",
        "default-ulimit" => "default-ulimits",
        "node-generic-resource" => "node-generic-resources",
        "default-address-pool" => "default-address-pools",
        "cluster-store-opt" => "cluster-store-opts",
        "default-network-opt" => "default-network-opts",
        "feature" => "features",
        other => other,
    };
    Some(key.to_string())
}

fn is_bool(name: &str) -> bool {
    BOOL_FLAGS.contains(&name)
}

/// A word of the command line and the variables it was expanded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub via: Option<String>,
}

/// The words of an ExecStart= line with `$NAME` and `${NAME}` expanded from
/// `env` as systemd does; a word that came from a variable remembers the
/// word it was written as.
pub fn expand_words(words: &[String], env: &[(String, String)]) -> Vec<Word> {
    let mut expanded = Vec::new();
    for w in words {
        let via = w.contains('$').then(|| w.clone());
        for text in systemd::expand_env(std::slice::from_ref(w), env) {
            expanded.push(Word {
                text,
                via: via.clone(),
            });
        }
    }
    expanded
}

/// Parses dockerd's arguments (without the program name) into flags.
/// `file` and `line` say where they were found. Positional words (`daemon`
/// of the old `docker daemon`) are skipped.
pub fn parse_flags(words: &[Word], file: &str, line: usize) -> std::result::Result<Vec<Flag>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let flag = |name: &str, value: Option<String>, words: &[&Word], via: &Option<String>| Flag {
        key: config_key(name),
        name: name.to_string(),
        value,
        written: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        words: words.iter().map(|w| w.text.clone()).collect(),
        via: via.clone(),
        file: file.to_string(),
        line,
    };
    while i < words.len() {
        let word = &words[i];
        let text = word.text.as_str();
        i += 1;
        if text == "--" {
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                out.push(flag(name, Some(value.to_string()), &[word], &word.via));
            } else if is_bool(long) {
                out.push(flag(long, None, &[word], &word.via));
            } else {
                // pflag takes the next word as the value, whatever it is; for
                // a flag not known here, only a word that is not a flag.
                let takes_next = match words.get(i) {
                    Some(next) => is_value_flag(long) || !next.text.starts_with('-'),
                    None if is_value_flag(long) => {
                        return Err(format!("flag needs an argument: {text}"));
                    }
                    None => false,
                };
                if takes_next {
                    let next = &words[i];
                    i += 1;
                    out.push(flag(
                        long,
                        Some(next.text.clone()),
                        &[word, next],
                        &word.via.clone().or_else(|| next.via.clone()),
                    ));
                } else {
                    out.push(flag(long, None, &[word], &word.via));
                }
            }
            continue;
        }
        if let Some(shorts) = text.strip_prefix('-').filter(|s| !s.is_empty()) {
            let chars: Vec<char> = shorts.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                let Some(name) = long_name(c) else {
                    return Err(format!("unknown shorthand flag: '{c}' in {text}"));
                };
                j += 1;
                if is_bool(name) {
                    let value = (chars.get(j) == Some(&'=')).then(|| {
                        let v: String = chars[j + 1..].iter().collect();
                        j = chars.len();
                        v
                    });
                    out.push(flag(name, value, &[word], &word.via));
                    continue;
                }
                let rest: String = chars[j..].iter().collect();
                if let Some(value) = rest.strip_prefix('=') {
                    out.push(flag(name, Some(value.to_string()), &[word], &word.via));
                } else if !rest.is_empty() {
                    out.push(flag(name, Some(rest), &[word], &word.via));
                } else if let Some(next) = words.get(i) {
                    i += 1;
                    out.push(flag(
                        name,
                        Some(next.text.clone()),
                        &[word, next],
                        &word.via.clone().or_else(|| next.via.clone()),
                    ));
                } else {
                    return Err(format!("flag needs an argument: -{c}"));
                }
                break;
            }
        }
    }
    Ok(out)
}

/// Flags known to take a value (so the next word is always their value).
fn is_value_flag(name: &str) -> bool {
    !is_bool(name)
        && matches!(
            name,
            "host"
                | "log-level"
                | "log-driver"
                | "log-opt"
                | "userns-remap"
                | "seccomp-profile"
                | "tlscacert"
                | "tlscert"
                | "tlskey"
                | "data-root"
                | "exec-root"
                | "pidfile"
                | "group"
                | "bridge"
                | "bip"
                | "storage-driver"
                | "storage-opt"
                | "containerd"
                | "config-file"
                | "insecure-registry"
                | "registry-mirror"
                | "label"
                | "dns"
                | "dns-opt"
                | "dns-search"
                | "exec-opt"
                | "default-runtime"
                | "add-runtime"
                | "cgroup-parent"
                | "default-ulimit"
                | "mtu"
                | "fixed-cidr"
                | "fixed-cidr-v6"
                | "default-gateway"
                | "default-gateway-v6"
                | "ip"
                | "authorization-plugin"
                | "graph"
        )
}

/// Flags that may be given several times (a list or map in daemon.json).
pub fn is_list_flag(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "insecure-registry"
            | "registry-mirror"
            | "label"
            | "log-opt"
            | "storage-opt"
            | "exec-opt"
            | "dns"
            | "dns-opt"
            | "dns-search"
            | "authorization-plugin"
            | "add-runtime"
            | "default-ulimit"
            | "node-generic-resource"
            | "default-address-pool"
            | "cluster-store-opt"
            | "default-network-opt"
            | "feature"
            | "allow-nondistributable-artifacts"
    )
}

/// Whether a flag is a boolean one.
pub fn is_bool_flag(name: &str) -> bool {
    is_bool(name)
}

/// A word for an `ExecStart=` line, double-quoted when systemd would
/// otherwise split or unescape it.
pub fn exec_word(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return word.to_string();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One effective `ExecStart=` of docker.service.
#[derive(Debug, Clone)]
pub struct ExecLine {
    pub file: String,
    pub line: usize,
    /// The value as written.
    pub raw: String,
    /// The program (first word).
    pub program: String,
    /// The words after the program, expanded.
    pub args: Vec<Word>,
    /// Whether the program is dockerd (or the old `docker daemon`).
    pub is_dockerd: bool,
    /// The flags, or why they could not be read.
    pub flags: std::result::Result<Vec<Flag>, String>,
}

/// docker.service as dockerd's command line sees it.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub unit: Unit,
    /// `Type=` (default `simple`).
    pub service_type: String,
    pub exec: Vec<ExecLine>,
    /// Notes on the environment (a required EnvironmentFile missing, …).
    pub notes: Vec<String>,
}

impl ServiceView {
    /// systemd refuses more than one ExecStart= unless Type=oneshot.
    pub fn unloadable(&self) -> bool {
        self.exec.len() > 1 && self.service_type != "oneshot"
    }

    /// The flags dockerd starts with when the unit is loadable; when it is
    /// not, every flag of every ExecStart= (none is in effect, but any of
    /// them may be once the unit is repaired).
    pub fn flags(&self) -> Vec<&Flag> {
        self.exec
            .iter()
            .filter(|e| e.is_dockerd)
            .filter_map(|e| e.flags.as_ref().ok())
            .flatten()
            .collect()
    }
}

/// Loads docker.service and computes its command line. `None` if the unit
/// does not exist in the root.
pub fn service(root: &HostRoot) -> Result<Option<ServiceView>> {
    let Some(unit) = Unit::load(root, "docker.service")? else {
        return Ok(None);
    };
    let mut notes = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    for d in unit.list("Service", "Environment") {
        match systemd::split_words(&d.value) {
            Ok(words) => {
                for w in words {
                    if let Some((k, v)) = w.split_once('=') {
                        env.push((k.to_string(), v.to_string()));
                    }
                }
            }
            Err(e) => notes.push(format!("{}:{}: Environment= {e}", d.file, d.line)),
        }
    }
    // Files override Environment= (systemd reads them later).
    for d in unit.list("Service", "EnvironmentFile") {
        let (optional, path) = match d.value.strip_prefix('-') {
            Some(p) => (true, p.trim()),
            None => (false, d.value.trim()),
        };
        if path.starts_with('/') && !path.contains("/../") && !path.ends_with("/..") {
            match root.read_optional(path)? {
                Some(text) => env.extend(systemd::parse_env_file(systemd::check_env_file(path, &text)?)),
                None if optional => {}
                None => notes.push(format!(
                    "{}:{}: EnvironmentFile={path} does not exist; systemd will not start docker.service",
                    d.file, d.line
                )),
            }
        }
    }
    let mut exec = Vec::new();
    for d in unit.list("Service", "ExecStart") {
        let words = match systemd::split_command(&d.value) {
            Ok(w) => w,
            Err(e) => {
                exec.push(ExecLine {
                    file: d.file.clone(),
                    line: d.line,
                    raw: d.value.clone(),
                    program: String::new(),
                    args: Vec::new(),
                    is_dockerd: false,
                    flags: Err(e),
                });
                continue;
            }
        };
        let expanded = expand_words(&words, &env);
        let program = expanded.first().map(|w| w.text.clone()).unwrap_or_default();
        let base = program.rsplit('/').next().unwrap_or_default().to_string();
        let mut args: Vec<Word> = expanded.into_iter().skip(1).collect();
        let is_dockerd = match base.as_str() {
            "dockerd" => true,
            "docker" if args.first().is_some_and(|w| w.text == "daemon") => {
                args.remove(0);
                true
            }
            _ => false,
        };
        let flags = if is_dockerd {
            parse_flags(&args, &d.file, d.line)
        } else {
            Err(format!("{program} is not dockerd; its flags are not read"))
        };
        exec.push(ExecLine {
            file: d.file.clone(),
            line: d.line,
            raw: d.value.clone(),
            program,
            args,
            is_dockerd,
            flags,
        });
    }
    let service_type = unit
        .last("Service", "Type")
        .map(|d| d.value.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "simple".to_string());
    Ok(Some(ServiceView {
        unit,
        service_type,
        exec,
        notes,
    }))
}

/// Whether a `-H` value is a TCP listener (`tcp://…`, or an address
/// without a scheme, which dockerd takes as TCP).
pub fn is_tcp_host(host: &str) -> bool {
    let host = host.trim();
    if let Some((scheme, _)) = host.split_once("://") {
        return scheme == "tcp";
    }
    !host.is_empty() && !host.starts_with('/')
}

/// Whether a TCP listener is on the loopback address only.
pub fn is_loopback_host(host: &str) -> bool {
    let addr = host.trim().strip_prefix("tcp://").unwrap_or(host.trim());
    addr.starts_with("127.") || addr.starts_with("localhost:") || addr.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::{case_dir, empty_root, fixture_root};

    fn words(s: &str) -> Vec<Word> {
        s.split_whitespace()
            .map(|w| Word {
                text: w.to_string(),
                via: None,
            })
            .collect()
    }

    fn parse(s: &str) -> Vec<(String, Option<String>, Option<String>)> {
        parse_flags(&words(s), "/u", 1)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.key, f.value))
            .collect()
    }

    fn host(v: &str) -> (String, Option<String>, Option<String>) {
        ("host".into(), Some("hosts".into()), Some(v.into()))
    }

    #[test]
    fn every_host_spelling() {
        assert_eq!(
            parse("-H a -H=b -Hc --host d --host=e"),
            vec![host("a"), host("b"), host("c"), host("d"), host("e")]
        );
        // pflag takes the next word as the value even if it starts with '-'.
        assert_eq!(parse("-H -x"), vec![host("-x")]);
        assert!(parse_flags(&words("-H"), "/u", 1).is_err());
        assert!(parse_flags(&words("--host"), "/u", 1).is_err());
    }

    #[test]
    fn booleans_values_and_keys() {
        let f = parse_flags(
            &words("--icc=false --no-new-privileges --userns-remap default --insecure-registry r:5000 --tlsverify --tlscacert=/ca.pem -D --live-restore=0 --selinux-enabled --seccomp-profile unconfined --log-driver=journald daemon --userland-proxy=true"),
            "/u",
            3,
        )
        .unwrap();
        let get = |k: &str| f.iter().find(|f| f.key.as_deref() == Some(k)).unwrap();
        assert_eq!(get("icc").bool_value(), Some(false));
        assert_eq!(get("no-new-privileges").bool_value(), Some(true));
        assert_eq!(get("userns-remap").value.as_deref(), Some("default"));
        assert_eq!(get("userns-remap").written, "--userns-remap default");
        assert_eq!(get("insecure-registries").value.as_deref(), Some("r:5000"));
        assert_eq!(get("tlsverify").bool_value(), Some(true));
        assert_eq!(get("tlscacert").value.as_deref(), Some("/ca.pem"));
        assert_eq!(get("debug").bool_value(), Some(true));
        assert_eq!(get("live-restore").bool_value(), Some(false));
        assert_eq!(get("selinux-enabled").bool_value(), Some(true));
        assert_eq!(get("seccomp-profile").value.as_deref(), Some("unconfined"));
        assert_eq!(get("log-driver").value.as_deref(), Some("journald"));
        assert_eq!(get("userland-proxy").bool_value(), Some(true));
        assert_eq!(get("icc").place(), "--icc=false in /u:3");
        let cf = parse("--config-file /etc/d.json -D=false");
        assert_eq!(cf[0], ("config-file".into(), None, Some("/etc/d.json".into())));
        assert_eq!(
            cf[1],
            ("debug".into(), Some("debug".into()), Some("false".into()))
        );
        assert!(parse_flags(&words("-Z"), "/u", 1).is_err());
    }

    #[test]
    fn exec_words_round_trip() {
        for w in ["--icc=false", "a b", "say \"hi\"", "back\\slash", "x;y", ""] {
            let line = format!("/usr/bin/dockerd {}", exec_word(w));
            assert_eq!(systemd::split_command(&line).unwrap()[1], w, "{line}");
        }
        assert_eq!(exec_word("fd://"), "fd://");
    }

    #[test]
    fn tcp_hosts() {
        assert!(is_tcp_host("tcp://0.0.0.0:2375"));
        assert!(is_tcp_host("0.0.0.0:2375"));
        assert!(is_tcp_host(":2375"));
        assert!(!is_tcp_host("fd://"));
        assert!(!is_tcp_host("unix:///var/run/docker.sock"));
        assert!(is_loopback_host("tcp://127.0.0.1:2375"));
        assert!(!is_loopback_host("tcp://0.0.0.0:2375"));
    }

    #[test]
    fn c07_effective_flags_come_from_the_dropin() {
        let (_d, root) = fixture_root(&case_dir("C07-systemd-unit-hosts-fd-conflict").join("input"));
        let view = service(&root).unwrap().unwrap();
        assert!(!view.unloadable());
        let hosts: Vec<_> = view
            .flags()
            .into_iter()
            .filter(|f| f.name == "host")
            .map(|f| (f.value.clone().unwrap(), f.file.clone(), f.line))
            .collect();
        let dropin = "/etc/systemd/system/docker.service.d/10-remote-api.conf".to_string();
        assert_eq!(
            hosts,
            vec![
                ("fd://".to_string(), dropin.clone(), 3),
                ("tcp://0.0.0.0:2375".to_string(), dropin, 3)
            ]
        );
    }

    #[test]
    fn c08_two_execstarts_make_the_unit_unloadable() {
        let (_d, root) = fixture_root(&case_dir("C08-systemd-unit-dropin-execstart-reset").join("input"));
        let view = service(&root).unwrap().unwrap();
        assert_eq!(view.service_type, "notify");
        assert!(view.unloadable());
        assert!(view.flags().iter().any(|f| f.written == "--icc=false"));
    }

    #[test]
    fn environment_files_and_variables_are_expanded() {
        let (dir, root) = empty_root();
        let p = dir.path();
        std::fs::create_dir_all(p.join("lib/systemd/system")).unwrap();
        std::fs::create_dir_all(p.join("etc/default")).unwrap();
        std::fs::write(
            p.join("lib/systemd/system/docker.service"),
            "[Service]\nEnvironment=\"EXTRA=--icc=false\" LR=--live-restore\nEnvironmentFile=-/etc/default/docker\nEnvironmentFile=-/etc/sysconfig/docker\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS ${EXTRA} $LR\n",
        )
        .unwrap();
        std::fs::write(
            p.join("etc/default/docker"),
            "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375 --insecure-registry=r:5000\"\nLR=--live-restore=false\n",
        )
        .unwrap();
        let view = service(&root).unwrap().unwrap();
        assert!(view.notes.is_empty(), "{:?}", view.notes);
        let flags = view.flags();
        let got: Vec<(&str, Option<&str>)> = flags
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("host", Some("fd://")),
                ("host", Some("tcp://0.0.0.0:2375")),
                ("insecure-registry", Some("r:5000")),
                ("icc", Some("false")),
                ("live-restore", Some("false")),
            ]
        );
        assert_eq!(flags[1].via.as_deref(), Some("$DOCKER_OPTS"));
        assert_eq!(
            flags[1].place(),
            "-H tcp://0.0.0.0:2375 in /lib/systemd/system/docker.service:5 via $DOCKER_OPTS"
        );
        // A required environment file that is missing is noted.
        std::fs::write(
            p.join("lib/systemd/system/docker.service"),
            "[Service]\nEnvironmentFile=/etc/sysconfig/docker\nExecStart=/usr/bin/dockerd\n",
        )
        .unwrap();
        let view = service(&root).unwrap().unwrap();
        assert!(view.notes[0].contains("does not exist"), "{:?}", view.notes);
    }
}
