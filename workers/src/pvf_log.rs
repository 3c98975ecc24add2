//! Where a PVF's log lines go.
//!
//! `ext_logging_log_version_1` hands the PVF's target and message to the `log` crate, and
//! `ext_logging_max_level_version_1` reports `log::max_level()` back to the PVF (runtimes use
//! it to decide whether to format their logs at all). A PVF can read that value, so it is the
//! reference's: measured with the published reference, its execute job reports `Error`
//! whatever the node's log settings. Lines at that level go to the worker's stderr, which the
//! node forwards to its own log.
//!
//! The text is the PVF's, so it is made harmless before it is printed: control characters
//! (newlines included) are escaped, so a PVF cannot forge a line of the node's log or drive a
//! terminal; each field is cut at [`FIELD_MAX`] bytes; and each job prints at most
//! [`LINE_BUDGET`] lines, so a PVF cannot flood the node's log.

use std::{
    io::Write,
    sync::atomic::{AtomicU32, Ordering},
};

/// Lines one job may print.
pub const LINE_BUDGET: u32 = 64;
/// Longest target or message printed, in bytes (before escaping).
pub const FIELD_MAX: usize = 512;
/// The level reported to PVFs.
pub const MAX_LEVEL: log::LevelFilter = log::LevelFilter::Error;

static PRINTED: AtomicU32 = AtomicU32::new(0);

struct PvfLogger;

impl log::Log for PvfLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= MAX_LEVEL
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata())
            || PRINTED.fetch_add(1, Ordering::Relaxed) >= LINE_BUDGET
        {
            return;
        }
        let line = format_line(record.level(), record.target(), &record.args().to_string());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: PvfLogger = PvfLogger;

/// Installs the logger for this process (a worker; its jobs inherit it), and a panic hook
/// under the same budget: a host function that panics on a PVF's input (a storage call, an
/// allocation too large) panics once per call, and the default hook would print every one.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(MAX_LEVEL);
    }
    std::panic::set_hook(Box::new(|info| {
        if PRINTED.fetch_add(1, Ordering::Relaxed) >= LINE_BUDGET {
            return;
        }
        let message = crate::host_functions::panic_text(info.payload()).unwrap_or_default();
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let line = format!(
            "panic in job at {}: {}\n",
            escape(&location),
            escape(&message)
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }));
}

/// One line of PVF log, escaped and bounded, ending in a newline.
pub fn format_line(level: log::Level, target: &str, message: &str) -> String {
    format!("pvf log {level} {}: {}\n", escape(target), escape(message))
}

/// `text` cut at [`FIELD_MAX`] bytes (on a character boundary), control characters escaped.
pub fn escape(text: &str) -> String {
    let mut end = text.len().min(FIELD_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = text[..end].escape_debug().collect();
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pvf_cannot_forge_a_line_or_flood() {
        let line = format_line(
            log::Level::Info,
            "runtime",
            "ok\n2026-12-01 INFO node: fake line\x1b[2J",
        );
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.ends_with('\n') && !line.contains('\x1b'), "{line}");
        let long = "é".repeat(FIELD_MAX);
        assert!(escape(&long).len() <= FIELD_MAX + '…'.len_utf8());
    }
}
