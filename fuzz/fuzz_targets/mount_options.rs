//! Mount option lists: split, in_effect, missing and the smallest edit.
#![no_main]

use dockhard::kinds::mount::options;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the option list; further lines: the wanted options.
    let (list, rest) = text.split_once('\n').unwrap_or((text, "nosuid\nnodev\nnoexec"));
    // A policy wants flags set, never their opposites (`dev` next to
    // `nodev` can never both be in effect).
    let opposite = [
        "suid", "dev", "exec", "rw", "defaults", "user", "users", "owner", "group",
    ];
    let wanted: Vec<String> = rest
        .lines()
        .map(str::to_string)
        .filter(|w| !w.is_empty() && !w.contains(',') && !opposite.contains(&w.as_str()))
        .collect();

    let tokens = options::split(list);
    assert_eq!(tokens.join(","), list, "split keeps every byte");
    let missing = options::missing(list, &wanted);
    let edit = options::ensure(list, &wanted);
    assert_eq!(edit.changed(), !missing.is_empty(), "{edit:?}");
    let _ = edit.describe();
    // After the edit nothing wanted is missing, and a second edit is a no-op.
    // (Quoted tokens can swallow commas, so only for unquoted lists.)
    if !list.contains('"') && !wanted.iter().any(|w| w.contains('"')) {
        assert!(
            options::missing(&edit.options, &wanted).is_empty(),
            "{list:?} {wanted:?} -> {edit:?}"
        );
        let again = options::ensure(&edit.options, &wanted);
        assert!(!again.changed(), "{list:?} {wanted:?} -> {edit:?} -> {again:?}");
        assert_eq!(again.options, edit.options);
    }
});
