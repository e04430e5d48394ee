//! systemd units and drop-ins, EnvironmentFile= and dockerd's ExecStart=
//! flags, read as the daemon kind reads docker.service.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::daemon::flags::{config_key, exec_word, expand_words, parse_flags};
use dockhard::kinds::systemd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = line_count(data);
    // The same bytes as an EnvironmentFile=.
    let mut env = match systemd::check_env_file(FILE, data) {
        Ok(text) => systemd::parse_env_file(text),
        Err(e) => {
            check_line(e.message(), lines);
            Vec::new()
        }
    };
    let text = match systemd::unit_text(FILE, data) {
        Ok(text) => text,
        Err(e) => return check_line(e.message(), lines),
    };
    let directives = match systemd::parse(FILE, text) {
        Ok(d) => d,
        Err(e) => return check_line(e.message(), lines),
    };
    let lines = text.lines().count();
    for d in &directives {
        assert!(
            (1..=lines).contains(&d.line),
            "directive on line {} of {lines}",
            d.line
        );
        if d.key == "Environment"
            && let Ok(words) = systemd::split_words(&d.value)
        {
            for w in words {
                if let Some((k, v)) = w.split_once('=') {
                    env.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    for d in directives.iter().filter(|d| d.key == "ExecStart") {
        let Ok(words) = systemd::split_command(&d.value) else {
            continue;
        };
        // Every word comes back from its ExecStart= quoting.
        for w in &words {
            assert_eq!(
                systemd::split_words(&exec_word(w)).as_deref(),
                Ok(std::slice::from_ref(w)),
                "{w:?}"
            );
        }
        let expanded = expand_words(&words, &env);
        let args = expanded.get(1..).unwrap_or_default();
        if let Ok(flags) = parse_flags(args, &d.file, d.line) {
            for f in flags {
                let _ = (f.bool_value(), f.place(), config_key(&f.name));
                assert!(!f.words.is_empty() && f.words.len() <= 2, "{f:?}");
            }
        }
    }
});
