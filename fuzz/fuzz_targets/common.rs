//! Checks shared by the fuzz targets.

/// The file name every target passes to the parsers, so that errors can be
/// recognised as `F:LINE: …`.
pub const FILE: &str = "F";

/// Number of lines of `text` as an editor counts them (at least 1).
pub fn line_count(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count() + 1
}

/// If `message` is `F:LINE…`, LINE must be within the input.
pub fn check_line(message: &str, lines: usize) {
    let Some(rest) = message.strip_prefix("F:") else {
        return;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let line: usize = digits
        .parse()
        .unwrap_or_else(|_| panic!("error without a line number: {message}"));
    assert!(
        (1..=lines).contains(&line),
        "error names line {line} of {lines}: {message}"
    );
}
