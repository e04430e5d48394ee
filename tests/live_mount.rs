//! Tier 3: the live remount of the `mount` kind, run by the dockhard binary
//! with `--root /` inside a fresh mount namespace (`unshare --mount`), never
//! on this machine's own mounts. Each test's script makes / rprivate, binds
//! a private copy of /etc over /etc (so the fstab edit lands in the copy),
//! puts a tmpfs over /srv (so /srv/dh-test exists only in the namespace)
//! and mounts the policy point there. The scripts record every step's
//! output in the test's temp dir; the assertions read them afterwards.
//!
//! These tests need root (CI runs as root); they fail, never skip, when
//! they cannot run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const POINT: &str = "/srv/dh-test";

/// The machine's own mounts that a test could touch: /, /etc, /srv and
/// below, the test's temp dir, and any mount of a `dh-` source. (Other
/// tests of the suite may mount elsewhere on the machine meanwhile.)
fn machine_mounts(temp: &Path) -> Vec<String> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").expect("read this machine's /proc/self/mountinfo");
    let temp = temp.to_str().unwrap();
    text.lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = fields.get(4).copied().unwrap_or("");
            let under = |dir: &str| point == dir || point.starts_with(&format!("{dir}/"));
            point == "/" || under("/etc") || under("/srv") || under(temp) || line.contains(" - tmpfs dh-")
        })
        .map(str::to_string)
        .collect()
}

/// A test's temp dir and what its script recorded.
struct Sandbox {
    dir: tempfile::TempDir,
    log: String,
}

impl Sandbox {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.out().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}; the script's log:\n{}", self.log))
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out().join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.log))
    }

    /// Exit code of a recorded step.
    fn rc(&self, step: &str) -> i32 {
        self.file(&format!("{step}.rc")).trim().parse().unwrap()
    }

    fn stdout(&self, step: &str) -> String {
        self.file(&format!("{step}.out"))
    }

    fn stderr(&self, step: &str) -> String {
        self.file(&format!("{step}.err"))
    }

    /// A step's output, for assertion messages.
    fn show(&self, step: &str) -> String {
        format!(
            "`{step}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.rc(step),
            self.stdout(step),
            self.stderr(step)
        )
    }

    /// The mounts on the point recorded in `name`: (mount id, per-mount
    /// flags), bottom first.
    fn mounts(&self, name: &str) -> Vec<(u64, Vec<String>)> {
        self.file(name)
            .lines()
            .map(|line| {
                let (id, flags) = line.split_once(' ').expect("`ID FLAGS` line");
                (
                    id.parse().unwrap(),
                    flags.split(',').map(str::to_string).collect(),
                )
            })
            .collect()
    }
}

fn set(flags: &[String]) -> BTreeSet<&str> {
    flags.iter().map(String::as_str).collect()
}

/// Runs `setup` then `steps` (sh) in a new mount namespace. Helpers the
/// script can use: `dh ARGS` (dockhard on / with the test's profile and
/// state dir), `rec NAME CMD…` (records stdout, stderr and exit code as
/// out/NAME.{out,err,rc}), `flags FILE` (records `ID FLAGS` of every mount
/// on the point into out/FILE), `asnobody CMD…` (runs as uid/gid 65534 with
/// no groups). `fstab` is the fstab copy's original content (`$T/etc/fstab`
/// gets this line list); `profile` the TOML profile.
fn sandbox(fstab_lines: &str, setup: &str, steps: &str) -> Sandbox {
    sandbox_with(&[POINT], fstab_lines, setup, steps)
}

fn sandbox_with(points: &[&str], fstab_lines: &str, setup: &str, steps: &str) -> Sandbox {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tests/live_mount.rs needs root (CI runs as root): it remounts inside a new mount namespace"
    );
    assert!(
        Path::new("/srv").is_dir(),
        "/srv is missing: the tests put a tmpfs over it inside their namespace"
    );
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    std::fs::create_dir(t.join("out")).unwrap();
    std::fs::write(
        t.join("profile.toml"),
        format!("[rules.mount-nosuid]\npoints = {points:?}\n"),
    )
    .unwrap();
    let script = format!(
        r#"set -u
T='{t}'
DH='{dh}'
P='{POINT}'
dh() {{ "$DH" --root / --profile "$T/profile.toml" --state-dir "$T/state" --color never "$@"; }}
rec() {{ name=$1; shift; rc=0; "$@" >"$T/out/$name.out" 2>"$T/out/$name.err" || rc=$?; echo $rc >"$T/out/$name.rc"; }}
flags() {{ awk -v p="$P" '$5 == p {{ print $1, $6 }}' /proc/self/mountinfo >"$T/out/$1"; }}
asnobody() {{ setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }}
die() {{ echo "setup failed: $*" >&2; exit 99; }}
mount --make-rprivate / || die "make / rprivate"
cp -a /etc "$T/etc" || die "copy /etc"
cat >"$T/etc/fstab" <<'FSTAB' || die "write the fstab copy"
{fstab_lines}FSTAB
cp "$T/etc/fstab" "$T/out/fstab-original"
mount --bind "$T/etc" /etc || die "bind the copy of /etc"
mount -t tmpfs -o mode=0755 dh-srv /srv || die "tmpfs on /srv"
mkdir "$P" || die "mkdir $P"
{setup}
{steps}
"#,
        t = t.display(),
        dh = env!("CARGO_BIN_EXE_dockhard"),
    );
    std::fs::write(t.join("script.sh"), &script).unwrap();
    let before = machine_mounts(t);
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh"])
        .arg(t.join("script.sh"))
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare (util-linux)");
    let log = format!(
        "unshare exited {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the namespace script failed: {log}");
    assert_eq!(machine_mounts(t), before, "this machine's own mounts changed");
    assert!(
        before.iter().any(|l| l.split(' ').nth(4) == Some("/")),
        "{before:?}"
    );
    Sandbox { dir, log }
}

/// The proof of issue 3 item 2 and the nosuid effect of item 5: a
/// setuid-root `id` on the point makes uid 65534 euid 0 before, not after,
/// and again after rollback. The point is busy throughout (a process has
/// its cwd there and a file open for writing): a per-mount flag change
/// does not need it idle.
#[test]
fn remount_adds_nosuid_nodev_now_keeps_other_flags_and_rollback_restores() {
    let s = sandbox(
        "# scratch\ntmpfs\t/srv/dh-test  tmpfs noatime 0 0\n",
        r#"mount -t tmpfs -o noatime,nodiratime,mode=1777 dh-test "$P" || die "tmpfs on $P"
cp /usr/bin/id "$P/id" && chmod 4755 "$P/id" || die "setuid id"
(cd "$P" && exec sleep 300 3>busy) >/dev/null 2>&1 </dev/null &
BUSY=$!
trap 'kill $BUSY' EXIT"#,
        r#"flags before
rec euid-before asnobody "$P/id" -u
rec plan dh plan --only mount --detailed-exitcode
rec apply dh apply --yes --only mount
flags after
rec euid-after asnobody "$P/id" -u
rec plan-again dh plan --detailed-exitcode --only mount
cp /etc/fstab "$T/out/fstab-applied"
rec rollback dh rollback --yes
flags rolled-back
rec euid-rolled-back asnobody "$P/id" -u
cp /etc/fstab "$T/out/fstab-rolled-back"
rec plan-rolled-back dh plan --detailed-exitcode --only mount"#,
    );
    // Before: a non-root user gets euid 0 through the setuid copy.
    assert_eq!(s.stdout("euid-before").trim(), "0", "{}", s.show("euid-before"));

    assert_eq!(s.rc("plan"), 2, "{}", s.show("plan"));
    let plan = s.stdout("plan");
    assert!(plan.contains("remount /srv/dh-test"), "{plan}");
    assert!(!plan.contains("left out in this version"), "{plan}");
    assert_eq!(s.rc("apply"), 0, "{}", s.show("apply"));

    let before = s.mounts("before");
    let after = s.mounts("after");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, before[0].0, "the same mount, never unmounted");
    let mut want = set(&before[0].1);
    for flag in ["noatime", "nodiratime", "rw"] {
        assert!(want.contains(flag), "{before:?}");
    }
    want.extend(["nosuid", "nodev"]);
    assert_eq!(set(&after[0].1), want, "only nosuid,nodev are added");

    // The effect: the set-id bit no longer raises privilege.
    assert_eq!(s.stdout("euid-after").trim(), "65534", "{}", s.show("euid-after"));

    assert_eq!(s.rc("plan-again"), 0, "{}", s.show("plan-again"));
    assert_eq!(
        s.file("fstab-applied"),
        "# scratch\ntmpfs\t/srv/dh-test  tmpfs noatime,nosuid,nodev 0 0\n"
    );

    // Rollback: the previous flags and fstab byte for byte.
    assert_eq!(s.rc("rollback"), 0, "{}", s.show("rollback"));
    assert_eq!(s.mounts("rolled-back"), before);
    assert_eq!(s.bytes("fstab-rolled-back"), s.bytes("fstab-original"));
    assert_eq!(
        s.stdout("euid-rolled-back").trim(),
        "0",
        "{}",
        s.show("euid-rolled-back")
    );
    assert_eq!(s.rc("plan-rolled-back"), 2, "{}", s.show("plan-rolled-back"));
}

/// C15 live: fstab is compliant, a tmpfs without nosuid is stacked over
/// the point. Only the top mount is remounted; the covered one and fstab
/// stay as they are, and nothing is unmounted.
#[test]
fn stacked_mounts_only_the_top_one_is_remounted() {
    let s = sandbox(
        "tmpfs /srv/dh-test tmpfs nosuid,nodev 0 0\n",
        r#"mount -t tmpfs -o nosuid,nodev dh-bottom "$P" || die "bottom tmpfs"
mount -t tmpfs -o relatime dh-top "$P" || die "top tmpfs""#,
        r#"flags before
rec plan-json dh plan --only mount --format json
rec apply dh apply --yes --only mount
flags after
rec plan-again dh plan --detailed-exitcode --only mount
cp /etc/fstab "$T/out/fstab-applied"
rec rollback dh rollback --yes
flags rolled-back"#,
    );
    let before = s.mounts("before");
    assert_eq!(before.len(), 2, "{before:?}");
    let (bottom, top) = (&before[0], &before[1]);
    assert!(set(&bottom.1).contains("nosuid") && !set(&top.1).contains("nosuid"));

    let plan: serde_json::Value = serde_json::from_str(&s.stdout("plan-json")).expect("JSON plan");
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "only the remount: {changes:#?}");
    assert_eq!(changes[0]["live"], true);
    assert_eq!(changes[0]["takes_effect"], "now");
    assert_eq!(changes[0]["action"]["op"], "remount");
    assert_eq!(changes[0]["action"]["mount_id"], top.0);

    assert_eq!(s.rc("apply"), 0, "{}", s.show("apply"));
    let after = s.mounts("after");
    assert_eq!(after.len(), 2, "still stacked, nothing unmounted: {after:?}");
    assert_eq!(&after[0], bottom, "the covered mount is untouched");
    assert_eq!(after[1].0, top.0);
    let mut want = set(&top.1);
    want.extend(["nosuid", "nodev"]);
    assert_eq!(set(&after[1].1), want);
    assert_eq!(s.rc("plan-again"), 0, "{}", s.show("plan-again"));
    assert_eq!(s.bytes("fstab-applied"), s.bytes("fstab-original"));

    assert_eq!(s.rc("rollback"), 0, "{}", s.show("rollback"));
    assert_eq!(s.mounts("rolled-back"), before);
}

/// A saved plan whose mount was replaced (another file system mounted,
/// then moved onto the point after the old one was unmounted) is refused:
/// nothing is applied, fstab included. The mount is known by its
/// mountinfo id, which the kernel reuses once it is free; the new mount is
/// made before the old one goes, so its id differs, as it does whenever a
/// replacement is prepared elsewhere or stacked on top.
#[test]
fn a_mount_replaced_after_the_plan_is_refused() {
    let s = sandbox(
        "tmpfs /srv/dh-test tmpfs defaults 0 0\n",
        r#"mount -t tmpfs dh-first "$P" || die "first tmpfs""#,
        r#"flags planned
rec plan dh plan --only mount --out "$T/plan.json"
mkdir /srv/dh-next && mount -t tmpfs dh-second /srv/dh-next
umount "$P"
mount --move /srv/dh-next "$P"
flags before
rec apply dh apply "$T/plan.json" --yes
flags after
cp /etc/fstab "$T/out/fstab-after""#,
    );
    assert_eq!(s.rc("plan"), 0, "{}", s.show("plan"));
    let planned = s.mounts("planned");
    let before = s.mounts("before");
    assert_ne!(planned[0].0, before[0].0, "the test replaced the mount");
    assert_ne!(s.rc("apply"), 0, "{}", s.show("apply"));
    let err = s.stderr("apply");
    assert!(
        err.contains("/srv/dh-test: changed since the plan was made"),
        "{err}"
    );
    assert!(err.contains(&format!("mount {}", planned[0].0)), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert_eq!(s.mounts("after"), before, "the new mount is left alone");
    assert_eq!(s.bytes("fstab-after"), s.bytes("fstab-original"));
}

/// A read-only bind mount with noexec and strict atime (no atime flag in
/// mountinfo) gets nosuid,nodev and keeps ro, noexec and strictatime;
/// rollback restores exactly the old flags.
#[test]
fn a_read_only_mount_point_still_gets_nosuid() {
    let s = sandbox(
        "/srv/dh-data /srv/dh-test none bind,ro,noexec 0 0\n",
        r#"mkdir /srv/dh-data || die "mkdir"
mount --bind /srv/dh-data "$P" || die "bind"
mount -o remount,bind,ro,noexec,strictatime "$P" || die "make it ro""#,
        r#"flags before
rec apply dh apply --yes --only mount
flags after
rec write touch "$P/still-read-only"
rec plan-again dh plan --detailed-exitcode --only mount
rec rollback dh rollback --yes
flags rolled-back
cp /etc/fstab "$T/out/fstab-rolled-back""#,
    );
    let before = s.mounts("before");
    assert_eq!(set(&before[0].1), BTreeSet::from(["ro", "noexec"]), "{before:?}");
    assert_eq!(s.rc("apply"), 0, "{}", s.show("apply"));
    let after = s.mounts("after");
    assert_eq!(after[0].0, before[0].0);
    assert_eq!(
        set(&after[0].1),
        BTreeSet::from(["ro", "nosuid", "nodev", "noexec"]),
        "ro, noexec and strict atime kept: {after:?}"
    );
    assert_ne!(s.rc("write"), 0, "still read-only");
    assert_eq!(s.rc("plan-again"), 0, "{}", s.show("plan-again"));
    assert_eq!(s.rc("rollback"), 0, "{}", s.show("rollback"));
    assert_eq!(s.mounts("rolled-back"), before);
    assert_eq!(s.bytes("fstab-rolled-back"), s.bytes("fstab-original"));
}

/// A remount that fails (here: dockhard runs without CAP_SYS_ADMIN, so
/// mount(2) is refused after the fstab edit was written) is reported with
/// the mount point, and the executor restores the fstab edit: fstab and
/// the live flags stay as they were, consistent with each other.
#[test]
fn a_failing_remount_is_reported_and_the_fstab_edit_is_undone() {
    let s = sandbox(
        "tmpfs /srv/dh-test tmpfs defaults 0 0\n",
        r#"mount -t tmpfs dh-test "$P" || die "tmpfs""#,
        r#"flags before
rec apply setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- "$DH" --root / --profile "$T/profile.toml" --state-dir "$T/state" apply --yes --only mount
flags after
cp /etc/fstab "$T/out/fstab-after"
rec plan-again dh plan --detailed-exitcode --only mount
rec snapshots dh snapshots"#,
    );
    assert_ne!(s.rc("apply"), 0, "{}", s.show("apply"));
    let err = s.stderr("apply");
    let id = s.mounts("before")[0].0;
    assert!(
        err.contains(&format!(
            "/srv/dh-test: remount of mount {id} with rw,nosuid,nodev,relatime failed"
        )),
        "{err}"
    );
    assert!(err.contains("Operation not permitted (no CAP_SYS_ADMIN"), "{err}");
    assert!(err.contains("already made were undone"), "{err}");
    assert_eq!(s.mounts("after"), s.mounts("before"));
    assert_eq!(s.bytes("fstab-after"), s.bytes("fstab-original"));
    assert_eq!(s.rc("plan-again"), 2, "still to do: {}", s.show("plan-again"));
    assert!(
        s.stdout("snapshots").contains("undone"),
        "{}",
        s.show("snapshots")
    );
}

/// A step after the remount fails (the drop-in for a second point cannot
/// be written: its folder is a read-only mount): the executor undoes the
/// run, newest first, so the remount is reversed and the fstab edit
/// restored; the failure names the step.
#[test]
fn a_later_failing_step_undoes_the_remount_and_the_fstab_edit() {
    let unit = "/etc/systemd/system/srv-dhunit.mount";
    let s = sandbox_with(
        &[POINT, "/srv/dhunit"],
        "tmpfs /srv/dh-test tmpfs defaults 0 0\n",
        &format!(
            r#"mount -t tmpfs dh-test "$P" || die "tmpfs"
mkdir -p {unit}.d /srv/dhunit || die "unit folder"
printf '[Mount]\nWhat=tmpfs\nWhere=/srv/dhunit\nType=tmpfs\nOptions=mode=1777\n' >{unit} || die "unit"
mount --bind {unit}.d {unit}.d && mount -o remount,bind,ro {unit}.d {unit}.d || die "read-only drop-in folder""#
        ),
        r#"flags before
rec plan dh plan --only mount
rec apply dh apply --yes --only mount
flags after
cp /etc/fstab "$T/out/fstab-after""#,
    );
    let plan = s.stdout("plan");
    let remount = plan.find("remount /srv/dh-test").expect("the remount is planned");
    let dropin = plan.find("50-nosuid.conf").expect("the drop-in is planned");
    assert!(remount < dropin, "{plan}");
    assert_ne!(s.rc("apply"), 0, "{}", s.show("apply"));
    let err = s.stderr("apply");
    assert!(err.contains("srv-dhunit.mount.d/50-nosuid.conf"), "{err}");
    assert!(err.contains("The 2 change(s) already made were undone"), "{err}");
    assert_eq!(s.mounts("after"), s.mounts("before"), "the remount was reversed");
    assert_eq!(s.bytes("fstab-after"), s.bytes("fstab-original"));
}
