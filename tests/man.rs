//! The checked-in man pages in `man/` are what the clap definitions
//! generate: `dockhard.8` and one page per command (`dockhard-plan.8`, …).
//! With DOCKHARD_UPDATE_SNAPSHOTS=1 the pages are rewritten instead.

use clap::CommandFactory;
use std::path::Path;

fn render(cmd: clap::Command) -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn man_pages_match_the_command_line_definitions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("DOCKHARD_UPDATE_SNAPSHOTS").is_some();
    let root = dockhard::cli::Cli::command();
    let mut pages = vec![("dockhard.8".to_string(), render(root.clone()))];
    for sub in root.get_subcommands() {
        let name = format!("dockhard-{}", sub.get_name());
        let cmd = sub.clone().name(name.clone().leak() as &str);
        pages.push((format!("{name}.8"), render(cmd)));
    }
    let mut stale = Vec::new();
    for (file, text) in &pages {
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.clone());
        }
    }
    let on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for file in on_disk.iter().filter(|f| f.ends_with(".8")) {
        if !pages.iter().any(|(p, _)| p == file) {
            stale.push(format!("{file} (no such command)"));
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run DOCKHARD_UPDATE_SNAPSHOTS=1 cargo test --test man and commit man/"
    );
}
