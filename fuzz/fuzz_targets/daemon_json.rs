//! /etc/docker/daemon.json: the strict parser and editor (which keeps every
//! byte it does not change) and the lenient reader of the other kinds.
#![no_main]

use dockhard::kinds::daemon::json::{Document, decode_text};
use dockhard::kinds::daemon::json_value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = json_value(data);
    let doc = match Document::parse(data) {
        Ok(d) => d,
        Err(e) => {
            // The position is within the decoded text.
            if let Ok((_, text)) = decode_text(data) {
                let lines = text.matches('\n').count() + 1;
                assert!((1..=lines).contains(&e.line), "line {} of {lines}: {e}", e.line);
                assert!(e.column >= 1);
            }
            return;
        }
    };
    let utf16 = doc.encoding.is_utf16();
    for m in &doc.members {
        let key_text = &doc.text[m.key_span.clone()];
        assert!(
            key_text.len() >= 2 && key_text.starts_with('"') && key_text.ends_with('"'),
            "{key_text:?}"
        );
        let lines = doc.text.matches('\n').count() + 1;
        assert!((1..=lines).contains(&m.line));
        // A value's own text parses to the same value.
        let own = &doc.text[m.value_span.clone()];
        let wrapped = format!("{{\"k\": {own}}}");
        let reparsed = Document::parse(wrapped.as_bytes()).expect("a member's value parses alone");
        assert_eq!(reparsed.members[0].value, m.value);
        // Compact rendering parses to the same value too.
        let wrapped = format!("{{\"k\": {}}}", m.value.to_json());
        let reparsed = Document::parse(wrapped.as_bytes()).expect("to_json parses");
        assert_eq!(reparsed.members[0].value, m.value);

        // Setting a member to its own text gives the file back.
        let same = doc.set(&m.key, own);
        if utf16 {
            assert!(same.is_none());
            continue;
        }
        assert_eq!(same.as_deref(), Some(data), "set {} to itself", m.key);
        // Removing a member leaves a file with the others, unchanged.
        let removed = doc.remove(&m.key).expect("remove an existing key");
        let after = Document::parse(&removed).expect("the file parses after a remove");
        assert_eq!(after.members.len(), doc.members.len() - 1);
        assert!(after.get(&m.key).is_none());
        for other in doc.members.iter().filter(|o| o.key != m.key) {
            assert_eq!(after.get(&other.key).map(|o| &o.value), Some(&other.value));
        }
        // Changing a value keeps the others.
        let changed = doc.set(&m.key, "[\"x\", 1]").expect("set");
        let after = Document::parse(&changed).expect("the file parses after a set");
        assert_eq!(after.members.len(), doc.members.len());
    }
    if utf16 {
        return;
    }
    // Adding a member keeps every other one.
    let key = "dockhard-fuzz-new";
    if doc.get(key).is_none() {
        let added = doc.set(key, "true").expect("set");
        let after = Document::parse(&added).expect("the file parses after an insert");
        assert_eq!(after.members.len(), doc.members.len() + 1);
        assert_eq!(after.get(key).and_then(|m| m.value.as_bool()), Some(true));
        for other in &doc.members {
            assert_eq!(after.get(&other.key).map(|o| &o.value), Some(&other.value));
        }
    }
});
