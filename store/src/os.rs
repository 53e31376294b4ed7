//! How OS errors read in weft's messages.

use std::io;

/// How an OS error reads in a message: "no space left on device", without the error number.
pub(crate) fn os_error(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => &text[..i],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_one_lowercase_phrase() {
        let e = io::Error::from_raw_os_error(28);
        assert_eq!(os_error(&e), "no space left on device");
        let custom = io::Error::other("Custom thing");
        assert_eq!(os_error(&custom), "custom thing");
    }
}
