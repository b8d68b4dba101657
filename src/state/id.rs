//! Container ids become directory and cgroup names, so they are restricted
//! to the characters runc accepts.

use super::{Error, Result};

pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why| Err(Error::InvalidId(id.to_string(), why));
    if id.is_empty() {
        return bad("must not be empty");
    }
    // Names starting with a dot are rt's own (the image cache lives in
    // <root>/.images), so no container can take them.
    if id.starts_with('.') {
        return bad("must not start with '.'");
    }
    if id.len() > 1024 {
        return bad("too long");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
    {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_ids() {
        for id in ["a", "abc-1.2_x+y", "0123456789abcdef"] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_paths_and_empty() {
        for id in ["", ".", "..", "../x", "a/b", "a b", "x\n", ".images"] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }
}
