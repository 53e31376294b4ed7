//! [`clip`]: input echoed in an error message, quoted and cut short, so a 100 KB key or value
//! gives a one-line error. It uses no other module of the crate.

/// How many characters of an input an error message echoes.
pub const CLIP_CHARS: usize = 100;

/// `input` quoted as `{:?}` does; past [`CLIP_CHARS`] characters, its first ones followed by
/// `... (N bytes)`.
pub fn clip(input: &str) -> String {
    match input.char_indices().nth(CLIP_CHARS) {
        None => format!("{input:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &input[..end], input.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_cut_short() {
        assert_eq!(clip("a\"b"), "\"a\\\"b\"");
        let long = "é".repeat(50_000);
        let c = clip(&long);
        assert_eq!(c, format!("{:?}... (100000 bytes)", "é".repeat(100)));
    }
}
