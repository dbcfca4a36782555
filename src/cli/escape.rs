//! Every byte the CLI writes goes through [`PrintableWriter`]: a manifest
//! or a cloud answer can put control characters into names, descriptions
//! and error messages, and raw ESC sequences or carriage returns in a CI
//! log could forge or hide plan lines. The writer escapes everything that
//! is not [`printable`](crate::model::text::is_printable) except the line
//! breaks the CLI writes itself; text that may hold a line break of its
//! own is made printable where it is formatted (see `render`).

use std::io::{self, Write};

use crate::model::text::{is_printable, push_printable};

/// How escapes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `\u{1b}`, for people.
    Text,
    /// `\u001b`, valid inside the JSON strings where such characters can
    /// only appear (serde_json escapes C0 itself).
    Json,
}

/// Escapes what is not printable in a stream of UTF-8 text, keeping `\n`.
pub struct PrintableWriter<'a> {
    inner: &'a mut (dyn Write + Send),
    style: Style,
    /// The start of a UTF-8 sequence whose rest has not been written yet.
    pending: Vec<u8>,
}

impl<'a> PrintableWriter<'a> {
    pub fn new(inner: &'a mut (dyn Write + Send), style: Style) -> Self {
        Self {
            inner,
            style,
            pending: Vec::new(),
        }
    }

    fn escape(&self, text: &str, out: &mut String) {
        for c in text.chars() {
            match (c, self.style) {
                ('\n', _) => out.push('\n'),
                (c, _) if is_printable(c) => out.push(c),
                (c, Style::Text) => push_printable(out, c),
                (c, Style::Json) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
    }
}

impl Write for PrintableWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.escape(text, &mut out);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // Valid up to here by the error's own account.
                    self.escape(std::str::from_utf8(valid).unwrap_or_default(), &mut out);
                    match e.error_len() {
                        // Not UTF-8 at all: say so rather than pass it on.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        // A sequence cut by the write boundary: keep it.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(style: Style, chunks: &[&[u8]]) -> String {
        let mut sink: Vec<u8> = Vec::new();
        {
            let mut w = PrintableWriter::new(&mut sink, style);
            for c in chunks {
                w.write_all(c).unwrap();
            }
        }
        String::from_utf8(sink).unwrap()
    }

    #[test]
    fn escapes_all_but_line_breaks_even_across_writes() {
        let text = "ok\n\u{1b}[2K\r[1/1] fake\u{202e}\n網頁";
        let bytes = text.as_bytes();
        // Split inside the three-byte characters.
        let (a, b) = bytes.split_at(bytes.len() - 4);
        assert_eq!(
            through(Style::Text, &[a, b]),
            "ok\n\\u{1b}[2K\\r[1/1] fake\\u{202e}\n網頁"
        );
        assert_eq!(
            through(Style::Json, &["\"a\u{7f}\u{2028}\"\n".as_bytes()]),
            "\"a\\u007f\\u2028\"\n"
        );
        assert_eq!(through(Style::Text, &[b"a\xffb"]), "a\u{FFFD}b");
    }
}
