//! Text that a peer sent, made safe to show.

/// `text` from a peer made safe to print: each control character (ESC, CR, BEL, a newline,
/// ...) is written as its Rust escape (`\u{1b}`, `\r`, `\u{7}`, `\n`), so what a peer says
/// cannot move the cursor, rewrite a line or ring the bell on the terminal that shows it.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
