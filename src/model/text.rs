//! Text from manifests or from a cloud, made safe to print. A description
//! holding a newline or an ANSI escape sequence must not be able to write
//! lines of its own into a plan table, a CI log or an Event: everything a
//! terminal would not show as a visible character is written as an escape.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` shows as itself: not a control character (C0, DEL, C1)
/// and not one of the invisible characters that move or hide text (bidi
/// embeddings, overrides and isolates, zero-width characters, line and
/// paragraph separators, the byte-order mark).
pub fn is_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        ))
}

/// `s` with every character that is not [`is_printable`] escaped: `\n`,
/// `\r`, `\t`, `\0`, otherwise `\u{1b}`-style. Borrowed when nothing needs
/// escaping, which is the common case.
pub fn printable(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_printable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_printable(&mut out, c);
    }
    Cow::Owned(out)
}

/// Append `c`, escaped when it is not [`is_printable`].
pub fn push_printable(out: &mut String, c: char) {
    match c {
        c if is_printable(c) => out.push(c),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        assert!(matches!(printable("web tier, 網頁"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\nb\r\tc\0\u{1b}[31mred\u{7f}\u{85}"),
            "a\\nb\\r\\tc\\0\\u{1b}[31mred\\u{7f}\\u{85}"
        );
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("x\u{2028}y\u{feff}"), "x\\u{2028}y\\u{feff}");
    }
}
