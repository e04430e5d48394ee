//! `dockhard profile show`: the effective profile as commented TOML that
//! loads back with `--profile` to the same policy; profile errors name the
//! key and the line.

mod common;

use common::*;

/// Everything after the header line that names the profile's source.
fn body(shown: &str) -> &str {
    shown.split_once('\n').map(|(_, rest)| rest).unwrap_or("")
}

fn save(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn builtin_profile_shows_every_rule_and_loads_back_to_the_same_policy() {
    let shown = dockhard(&["profile", "show"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.starts_with("# dockhard profile"), "{}", shown.stdout);
    let rules: serde_json::Value =
        serde_json::from_str(&dockhard(&["rules", "--format", "json"]).stdout).unwrap();
    for rule in rules.as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        let title = rule["title"].as_str().unwrap();
        assert!(shown.stdout.contains(&format!("\n[rules.{id}]\n")), "{id}");
        let first_word = title.split_whitespace().next().unwrap();
        assert!(shown.stdout.contains(&format!("# {id}: {first_word}")), "{id}");
    }
    // The parameters are explained from the rule files.
    assert!(
        shown
            .stdout
            .contains("# Destinations (CIDRs) containers may never reach")
    );

    let saved = save(&shown.stdout);
    let path = saved.path().to_str().unwrap();
    let again = dockhard(&["--profile", path, "profile", "show"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(body(&again.stdout), body(&shown.stdout));
    let rules_again = dockhard(&["--profile", path, "rules", "--format", "json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rules_again.stdout).unwrap(),
        rules
    );

    // The same plan on a fixture root, with and without the saved profile.
    let dir = basic_root();
    let plain = on(dir.path(), &["plan", "--format", "json"]);
    let with = on(dir.path(), &["--profile", path, "plan", "--format", "json"]);
    let changes = |out: &str| {
        let v: serde_json::Value = serde_json::from_str(out).unwrap();
        (v["changes"].clone(), v["findings"].clone())
    };
    assert_eq!(changes(&plain.stdout), changes(&with.stdout));
}

#[test]
fn an_edited_profile_shows_its_effective_values_and_round_trips() {
    let profile = save(
        "[rules.suid-strip]\nenabled = false\n\n[rules.mount-nosuid]\npoints = [\"/tmp\", \"/srv/data\"]\n",
    );
    let p = profile.path().to_str().unwrap();
    let shown = dockhard(&["--profile", p, "profile", "show"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains(p), "names its source: {}", shown.stdout);
    let suid = shown.stdout.split("[rules.suid-strip]\n").nth(1).unwrap();
    assert!(
        suid.starts_with("# built-in: enabled = true\nenabled = false\n"),
        "{suid}"
    );
    assert!(
        shown
            .stdout
            .contains("points = [\n  \"/tmp\",\n  \"/srv/data\",\n]\n")
    );

    let saved = save(&shown.stdout);
    let again = dockhard(&["--profile", saved.path().to_str().unwrap(), "profile", "show"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(body(&again.stdout), body(&shown.stdout));

    let dir = basic_root();
    let plan = on(
        dir.path(),
        &[
            "--profile",
            saved.path().to_str().unwrap(),
            "plan",
            "--format",
            "json",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert!(!changes.iter().any(|c| c["kind"] == "suid"), "suid-strip is off");
}

#[test]
fn unknown_keys_in_a_profile_are_errors_naming_key_and_line() {
    let cases = [
        (
            "# site profile\n[rulez.suid-strip]\nenabled = false\n",
            2,
            "rulez",
        ),
        ("\n\n[rules.no-such-rule]\nenabled = false\n", 3, "no-such-rule"),
        ("[rules.suid-strip]\nenabled = true\nalow = []\n", 3, "alow"),
        ("[rules.subid-remap-range]\ncount = \"many\"\n", 2, "count"),
    ];
    let dir = basic_root();
    for (text, line, key) in cases {
        let profile = save(text);
        let p = profile.path().to_str().unwrap();
        for args in [&["profile", "show"][..], &["plan"][..]] {
            let mut all = vec!["--profile", p];
            all.extend_from_slice(args);
            let run = on(dir.path(), &all);
            assert_eq!(run.code, 1, "{text}: {}", run.stdout);
            assert!(run.stdout.is_empty(), "{text}: {}", run.stdout);
            assert!(
                run.stderr.contains(&format!("{p}:{line}:")) && run.stderr.contains(key),
                "{text}: {}",
                run.stderr
            );
        }
    }
}
