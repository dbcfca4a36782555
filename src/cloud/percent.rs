//! The percent-encoding both signing schemes share (RFC 3986 unreserved
//! characters kept, every other byte `%XX` in uppercase hex). The same
//! encoder builds the URLs we send, so what is signed is what is sent.

/// Whether `b` is an RFC 3986 unreserved character.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Encode `s`; `/` is kept when `keep_slash` (paths), encoded otherwise.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(uri_encode("aZ09-_.~", false), "aZ09-_.~");
        assert_eq!(uri_encode("a b/c:d", false), "a%20b%2Fc%3Ad");
        assert_eq!(uri_encode("/a b/c", true), "/a%20b/c");
        assert_eq!(uri_encode("é", false), "%C3%A9");
        assert_eq!(uri_encode("=&+", false), "%3D%26%2B");
    }
}
