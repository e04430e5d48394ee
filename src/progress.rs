//! # Progress line
//!
//! A long inspection (the set-id scan of a large tree) shows one line with
//! counts on standard error while it runs, when standard error is a
//! terminal and `-q` was not given; on a pipe or a file nothing is drawn.
//! The inspection only bumps counters (atomics); a [`Ticker`] thread reads
//! them and redraws the line, so the inspection itself stays free of any
//! terminal code. An inspection that ends within [`DELAY`] draws nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Nothing is drawn for an inspection shorter than this.
pub const DELAY: Duration = Duration::from_millis(250);
const TICK: Duration = Duration::from_millis(100);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns progress lines on or off for this process (off by default: the
/// library draws nothing unless the command line asks for it).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether standard error can show a progress line: a terminal that is not
/// `TERM=dumb`.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(false)
}

/// Redraws a progress line from `message` until dropped; the line is
/// cleared at the end. Does nothing when progress is off.
#[derive(Debug)]
pub struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub fn start<F>(message: F) -> Ticker
    where
        F: Fn() -> String + Send + 'static,
    {
        if !enabled() {
            return Ticker {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if stopped.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
                bar.set_style(style);
            }
            loop {
                bar.set_message(message());
                bar.tick();
                if stopped.recv_timeout(TICK) != Err(RecvTimeoutError::Timeout) {
                    break;
                }
            }
            bar.finish_and_clear();
        });
        Ticker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_disabled_ticker_never_asks_for_its_message() {
        let asked = Arc::new(AtomicU64::new(0));
        let seen = asked.clone();
        let ticker = Ticker::start(move || {
            seen.fetch_add(1, Ordering::Relaxed);
            String::new()
        });
        std::thread::sleep(DELAY + TICK * 2);
        drop(ticker);
        assert_eq!(asked.load(Ordering::Relaxed), 0);
    }
}
