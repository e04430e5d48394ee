//! # Mount options
//!
//! Mount option lists (`defaults,nodev,size=50%%`) as fstab and systemd's
//! `Options=` carry them: evaluated left to right, the last option that
//! touches a flag wins (`nosuid,suid` allows set-id), `defaults` implies
//! `rw,suid,dev,exec`, and `user`/`users` imply `noexec,nosuid,nodev`
//! (`owner`/`group`: `nosuid,nodev`) unless a later option overrides them,
//! as mount(8) describes. Tokens are kept as written; commas inside double
//! quotes (SELinux `context="…"`) do not split.

/// Flags with an on token and the token that turns them off again.
const PAIRS: &[(&str, &str)] = &[
    ("nosuid", "suid"),
    ("nodev", "dev"),
    ("noexec", "exec"),
    ("ro", "rw"),
];

/// Which flags a token sets (`true`) or clears (`false`).
fn effects(token: &str) -> Vec<(&'static str, bool)> {
    for (on, off) in PAIRS {
        if token == *on {
            return vec![(on, true)];
        }
        if token == *off {
            return vec![(on, false)];
        }
    }
    match token {
        "defaults" => vec![
            ("nosuid", false),
            ("nodev", false),
            ("noexec", false),
            ("ro", false),
        ],
        "user" | "users" => vec![("nosuid", true), ("nodev", true), ("noexec", true)],
        "owner" | "group" => vec![("nosuid", true), ("nodev", true)],
        _ => Vec::new(),
    }
}

/// The option tokens of a list, split on commas outside double quotes.
/// Empty tokens (`a,,b`) are kept so that joining gives the input back.
pub fn split(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&options[start..]);
    out
}

/// Whether the option `wanted` (`nosuid`, `nodev`, `noexec`, `ro`, or any
/// other token) is in effect after evaluating `tokens` left to right.
pub fn in_effect<S: AsRef<str>>(tokens: &[S], wanted: &str) -> bool {
    let known = PAIRS.iter().any(|(on, _)| *on == wanted);
    if !known {
        return tokens.iter().any(|t| t.as_ref() == wanted);
    }
    // Without any token the kernel default applies: the flag is off.
    let mut state = false;
    for token in tokens {
        for (flag, value) in effects(token.as_ref()) {
            if flag == wanted {
                state = value;
            }
        }
    }
    state
}

/// Two wanted options that undo each other (`nosuid` and `suid`, or
/// `nodev` and `defaults`): no fstab line can satisfy both, and every plan
/// would flip it again.
pub fn contradiction(wanted: &[String]) -> Option<(String, String)> {
    for (n, a) in wanted.iter().enumerate() {
        for b in &wanted[n + 1..] {
            let clash = effects(a)
                .iter()
                .any(|(flag, on)| effects(b).iter().any(|(f, o)| f == flag && o != on));
            if clash {
                return Some((a.clone(), b.clone()));
            }
        }
    }
    None
}

/// The wanted options that a list does not put in effect, in policy order.
pub fn missing(options: &str, wanted: &[String]) -> Vec<String> {
    let tokens = split(options);
    wanted
        .iter()
        .filter(|w| !in_effect(&tokens, w))
        .cloned()
        .collect()
}

/// The result of [`ensure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsEdit {
    pub options: String,
    /// Tokens appended, in order.
    pub added: Vec<String>,
    /// Overriding tokens taken out (`suid` in `nosuid,suid`).
    pub removed: Vec<String>,
}

impl OptionsEdit {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }

    /// "add nosuid,nodev", "remove suid", "remove suid and add nodev".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!("remove the overriding {}", self.removed.join(",")));
        }
        if !self.added.is_empty() {
            parts.push(format!("add {}", self.added.join(",")));
        }
        parts.join(" and ")
    }
}

/// Puts every wanted option in effect with the smallest edit: when an
/// explicit opposite token (`suid` for `nosuid`) turns the flag off, it is
/// removed, and if the flag is still not in effect the wanted token is
/// appended (last one wins, so it beats `defaults` and `user`).
pub fn ensure(options: &str, wanted: &[String]) -> OptionsEdit {
    let mut tokens: Vec<String> = split(options).into_iter().map(str::to_string).collect();
    if options.is_empty() {
        tokens.clear();
    }
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for want in wanted {
        if in_effect(&tokens, want) {
            continue;
        }
        if let Some((_, off)) = PAIRS.iter().find(|(on, _)| on == want) {
            let before = tokens.len();
            tokens.retain(|t| t != off);
            if tokens.len() != before && !removed.iter().any(|r| r == off) {
                removed.push(off.to_string());
            }
            if in_effect(&tokens, want) {
                continue;
            }
        }
        tokens.push(want.clone());
        added.push(want.clone());
    }
    OptionsEdit {
        options: tokens.join(","),
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn last_option_wins() {
        assert!(!in_effect(&split("nosuid,suid"), "nosuid"));
        assert!(in_effect(&split("suid,nosuid"), "nosuid"));
        assert!(!in_effect(&split("nosuid,defaults"), "nosuid"));
        assert!(in_effect(&split("defaults,nosuid"), "nosuid"));
        assert!(!in_effect(&split("defaults"), "nosuid"));
        assert!(!in_effect(&split("rw,relatime"), "nodev"));
    }

    #[test]
    fn user_and_owner_imply_nosuid_nodev() {
        for opts in ["user,noauto", "users", "noauto,user,ro"] {
            assert!(in_effect(&split(opts), "nosuid"), "{opts}");
            assert!(in_effect(&split(opts), "nodev"), "{opts}");
            assert!(in_effect(&split(opts), "noexec"), "{opts}");
        }
        assert!(!in_effect(&split("user,suid"), "nosuid"));
        assert!(in_effect(&split("user,suid"), "nodev"));
        assert!(!in_effect(&split("user,defaults"), "nodev"));
        assert!(in_effect(&split("owner"), "nosuid"));
        assert!(!in_effect(&split("owner"), "noexec"));
        assert!(in_effect(&split("group,noauto"), "nodev"));
    }

    #[test]
    fn substrings_do_not_count() {
        // `nosuidx` or a value containing nosuid is not the option.
        assert!(!in_effect(&split("nosuidx,comment=nosuid"), "nosuid"));
        assert!(!in_effect(&split("context=\"a,nosuid\""), "nosuid"));
        assert_eq!(split("context=\"a,b\",ro"), vec!["context=\"a,b\"", "ro"]);
        assert_eq!(split("a,,b"), vec!["a", "", "b"]);
        // Unknown wanted options: present or not.
        assert!(in_effect(&split("defaults,noatime"), "noatime"));
        assert!(!in_effect(&split("defaults"), "noatime"));
    }

    #[test]
    fn ensure_appends_missing_tokens_in_policy_order() {
        let e = ensure("defaults,noatime", &w(&["nosuid"]));
        assert_eq!(e.options, "defaults,noatime,nosuid");
        assert_eq!(e.describe(), "add nosuid");
        let e = ensure("defaults", &w(&["nosuid", "nodev"]));
        assert_eq!(e.options, "defaults,nosuid,nodev");
        let e = ensure("defaults,nodev", &w(&["nosuid", "nodev"]));
        assert_eq!(e.options, "defaults,nodev,nosuid");
        assert_eq!(e.added, w(&["nosuid"]));
        let e = ensure("", &w(&["nosuid"]));
        assert_eq!(e.options, "nosuid");
        let e = ensure("mode=1777,strictatime,size=50%%", &w(&["nosuid", "nodev"]));
        assert_eq!(e.options, "mode=1777,strictatime,size=50%%,nosuid,nodev");
    }

    #[test]
    fn ensure_removes_an_overriding_token() {
        let e = ensure("nodev,nosuid,suid", &w(&["nosuid"]));
        assert_eq!(e.options, "nodev,nosuid");
        assert_eq!(e.removed, w(&["suid"]));
        assert!(e.added.is_empty());
        assert_eq!(e.describe(), "remove the overriding suid");
        // Removing is not enough when nothing else sets the flag.
        let e = ensure("defaults,suid", &w(&["nosuid", "nodev"]));
        assert_eq!(e.options, "defaults,nosuid,nodev");
        assert_eq!(e.describe(), "remove the overriding suid and add nosuid,nodev");
        // `defaults` after nosuid overrides it: append.
        let e = ensure("nosuid,defaults", &w(&["nosuid"]));
        assert_eq!(e.options, "nosuid,defaults,nosuid");
    }

    #[test]
    fn ensure_is_idempotent_and_keeps_compliant_lists() {
        for opts in ["user,noauto", "rw,nosuid,nodev", "nodev,nosuid"] {
            let e = ensure(opts, &w(&["nosuid", "nodev"]));
            assert!(!e.changed(), "{opts}");
            assert_eq!(e.options, opts);
        }
        let once = ensure("dev,suid,noatime", &w(&["nosuid", "nodev"]));
        assert_eq!(once.options, "noatime,nosuid,nodev");
        assert!(!ensure(&once.options, &w(&["nosuid", "nodev"])).changed());
        assert_eq!(
            missing("defaults,nodev", &w(&["nosuid", "nodev"])),
            w(&["nosuid"])
        );
    }
}
