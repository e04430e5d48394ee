//! dockerd reading its configuration, and the few Engine API calls dockhard
//! makes on the daemon's unix socket (`/run/docker.sock`): version, info,
//! the default bridge's options, and a throwaway container for the health
//! check. Plain HTTP/1.0 over the socket: one request per connection, no
//! chunked bodies.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const SOCKET: &str = "/run/docker.sock";
pub const PIDFILE: &str = "/run/docker.pid";

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Keys dockerd re-reads on SIGHUP (Docker's documentation; 20.10 and
/// later). Every other key needs a restart.
pub const RELOADABLE: [&str; 13] = [
    "debug",
    "labels",
    "live-restore",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "default-runtime",
    "runtimes",
    "authorization-plugins",
    "insecure-registries",
    "registry-mirrors",
    "shutdown-timeout",
    "features",
];

/// Whether dockerd applies `key` on SIGHUP.
pub fn reloadable(key: &str) -> bool {
    RELOADABLE.contains(&key)
}

/// Keys whose running value the API reports, so a reload can be verified.
pub const VERIFIABLE: [&str; 3] = ["icc", "live-restore", "userns-remap"];

/// One HTTP request on the daemon's socket: the status code and the JSON
/// body (`Null` when the body is empty).
pub fn request(
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value)> {
    let mut stream = UnixStream::connect(SOCKET).map_err(|e| Error::io(SOCKET, e))?;
    stream.set_read_timeout(Some(CALL_TIMEOUT)).ok();
    stream.set_write_timeout(Some(CALL_TIMEOUT)).ok();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: docker\r\n");
    if body.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(payload.as_bytes()))
        .map_err(|e| Error::io(SOCKET, e))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| Error::io(SOCKET, e))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::msg(format!("{SOCKET}: no HTTP response to {method} {path}")))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg(format!("{SOCKET}: {method} {path}: not an HTTP response")))?;
    let value = if body.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).map_err(|e| Error::msg(format!("{SOCKET}: {method} {path}: {e}")))?
    };
    Ok((status, value))
}

/// The message of an API error body (`{"message": …}`), or the body.
fn api_message(value: &serde_json::Value) -> String {
    value["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

/// One HTTP GET on the daemon's unix socket; the JSON body.
pub fn get(path: &str) -> Result<serde_json::Value> {
    match request("GET", path, None)? {
        (200, value) => Ok(value),
        (status, value) => Err(Error::msg(format!(
            "{SOCKET}: GET {path}: HTTP {status}: {}",
            api_message(&value)
        ))),
    }
}

/// Whether the daemon answers on its socket.
pub fn answers() -> bool {
    get("/version").is_ok()
}

fn pid() -> Result<i32> {
    let text = std::fs::read_to_string(PIDFILE).map_err(|e| Error::io(PIDFILE, e))?;
    text.trim()
        .parse()
        .map_err(|_| Error::msg(format!("{PIDFILE}: not a process id")))
}

/// Runs the restart command, at most `wait`; its stderr in the error.
fn run_restart(restart: &[String], wait: Duration) -> Result<()> {
    let shown = restart.join(" ");
    // stdout is not read: a command that leaves dockerd running in the
    // background would otherwise keep the pipe open.
    let mut child = Command::new(&restart[0])
        .args(&restart[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::msg(format!("`{shown}`: {e}")))?;
    let mut stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr.as_mut() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 || text.len() > 16_384 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                let _ = tx.send(text.clone());
            }
        }
        let _ = tx.send(text);
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < wait => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::msg(format!(
                    "`{shown}` did not finish within {} s",
                    wait.as_secs()
                )));
            }
            Err(e) => return Err(Error::msg(format!("`{shown}`: {e}"))),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    while let Ok(more) = rx.recv_timeout(Duration::from_millis(300)) {
        text = more;
    }
    Err(Error::msg(format!(
        "`{shown}` failed ({status}): {}",
        text.trim()
    )))
}

/// SIGHUP (no command) or the restart command; then waits up to `wait`
/// for the daemon to answer and report the `verify` settings.
pub fn reload(restart: &[String], verify: &[(String, serde_json::Value)], wait: Duration) -> Result<()> {
    let start = Instant::now();
    if restart.is_empty() {
        let pid = pid()?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGHUP)
            .map_err(|e| Error::msg(format!("dockerd (pid {pid}): SIGHUP: {}", e.desc())))?;
    } else {
        run_restart(restart, wait)?;
    }
    let last = loop {
        let last = match check(verify) {
            Ok(()) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= wait {
            break last;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Err(Error::msg(format!(
        "dockerd did not come back with the new settings within {} s: {last}",
        wait.as_secs()
    )))
}

/// What the running daemon reports for a daemon.json key, where its API
/// shows it (20.10 and later): `icc` from the default bridge's options,
/// `live-restore` from `/info`, `userns-remap` as whether `/info` lists
/// the `name=userns` security option. `None` for other keys.
pub fn running_value(key: &str, info: &serde_json::Value) -> Result<Option<serde_json::Value>> {
    use serde_json::Value;
    Ok(match key {
        "live-restore" => info.get("LiveRestoreEnabled").cloned(),
        "userns-remap" => {
            let on = info["SecurityOptions"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|s| s.as_str().is_some_and(|s| s.starts_with("name=userns")))
            });
            Some(Value::Bool(on))
        }
        "icc" => {
            let bridge = get("/networks/bridge")?;
            bridge["Options"]["com.docker.network.bridge.enable_icc"]
                .as_str()
                .map(|v| Value::Bool(v == "true"))
        }
        _ => None,
    })
}

/// Checks that the running daemon reports these daemon.json settings,
/// where its API shows them (a key it does not show passes once the daemon
/// answers).
pub fn check(verify: &[(String, serde_json::Value)]) -> Result<()> {
    use serde_json::Value;
    let info = get("/info")?;
    for (key, value) in verify {
        let Some(running) = running_value(key, &info)? else {
            continue;
        };
        // userns-remap is shown as on/off only.
        let want = match key.as_str() {
            "userns-remap" => Value::Bool(value.as_str().is_some_and(|v| !v.is_empty())),
            _ => value.clone(),
        };
        if running != want {
            return Err(Error::msg(format!(
                "dockerd does not report {key} = {value} yet (it reports {running})"
            )));
        }
    }
    Ok(())
}

/// Runs a throwaway container from the smallest local image: create, start,
/// wait, remove. `Ok(None)` when there is no image to try, `Ok(Some(image))`
/// when the container ran and exited 0.
pub fn run_probe_container(name: &str) -> Result<Option<String>> {
    let images = get("/images/json")?;
    let mut images: Vec<&serde_json::Value> =
        images.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    images.sort_by_key(|i| i["Size"].as_i64().unwrap_or(i64::MAX));
    // The smallest images first; an image with no `true` or shell (a
    // `FROM scratch` one such as hello-world) cannot tell whether
    // containers start: the next one is tried. None usable: inconclusive.
    for image in images.iter().take(5) {
        let Some(reference) = image["RepoTags"]
            .as_array()
            .and_then(|t| {
                t.iter()
                    .filter_map(|t| t.as_str())
                    .find(|t| *t != "<none>:<none>")
            })
            .or_else(|| image["Id"].as_str())
        else {
            continue;
        };
        let commands: [&[&str]; 3] = [&["true"], &["/bin/true"], &["/bin/sh", "-c", "exit 0"]];
        for cmd in commands {
            match probe_once(name, reference, cmd) {
                Ok(()) => return Ok(Some(reference.to_string())),
                Err(Probe::NoCommand) => continue,
                Err(Probe::Failed(e)) => return Err(e),
            }
        }
    }
    Ok(None)
}

enum Probe {
    /// The image lacks the command: inconclusive.
    NoCommand,
    Failed(Error),
}

fn probe_once(name: &str, image: &str, cmd: &[&str]) -> std::result::Result<(), Probe> {
    use serde_json::json;
    let fail = |e: Error| Probe::Failed(e);
    let shown = cmd.join(" ");
    // A container of an earlier run that was not removed.
    let _ = request("DELETE", &format!("/containers/{name}?force=true"), None);
    // The image's own ENTRYPOINT would turn `true` into its argument.
    let body = json!({"Image": image, "Entrypoint": [], "Cmd": cmd, "Labels": {"dockhard.health": "1"}});
    let (status, created) =
        request("POST", &format!("/containers/create?name={name}"), Some(&body)).map_err(fail)?;
    if status != 201 {
        return Err(fail(Error::msg(format!(
            "creating a test container from {image}: HTTP {status}: {}",
            api_message(&created)
        ))));
    }
    let id = created["Id"].as_str().unwrap_or(name).to_string();
    let result = (|| {
        let (status, started) = request("POST", &format!("/containers/{id}/start"), None).map_err(fail)?;
        if status != 204 && status != 304 {
            let msg = api_message(&started);
            // runc's words for a command the image lacks: "executable file
            // not found in $PATH", or `exec: "/bin/true": stat /bin/true: …`.
            if msg.contains("executable file not found") || msg.contains(&format!("exec: \"{}\"", cmd[0])) {
                return Err(Probe::NoCommand);
            }
            return Err(fail(Error::msg(format!(
                "starting a test container from {image} (`{shown}`): HTTP {status}: {msg}"
            ))));
        }
        let (status, waited) = request("POST", &format!("/containers/{id}/wait"), None).map_err(fail)?;
        let code = waited["StatusCode"].as_i64();
        if status != 200 || code != Some(0) {
            return Err(fail(Error::msg(format!(
                "the test container from {image} (`{shown}`) did not exit 0: HTTP {status}: {waited}"
            ))));
        }
        Ok(())
    })();
    let _ = request("DELETE", &format!("/containers/{id}?force=true"), None);
    result
}
