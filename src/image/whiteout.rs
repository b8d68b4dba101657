//! Tar entry names: lexical normalisation and the image-spec whiteout forms.

/// What an entry's base name means.
#[derive(Debug, PartialEq, Eq)]
pub enum Name<'a> {
    Plain,
    /// `.wh..wh..opq`: hide everything lower layers put in this directory.
    Opaque,
    /// `.wh.NAME`: delete NAME from lower layers.
    Whiteout(&'a [u8]),
}

pub const PREFIX: &[u8] = b".wh.";
pub const OPAQUE: &[u8] = b".wh..wh..opq";

/// Classifies a base name. A whiteout that names nothing usable (`.wh.`,
/// `.wh..`, `.wh...`, or another `.wh..wh.` meta name) is `None`: invalid.
pub fn classify(base: &[u8]) -> Option<Name<'_>> {
    if base == OPAQUE {
        return Some(Name::Opaque);
    }
    let Some(rest) = base.strip_prefix(PREFIX) else {
        return Some(Name::Plain);
    };
    if rest.is_empty() || rest == b"." || rest == b".." || rest.starts_with(PREFIX) {
        return None;
    }
    Some(Name::Whiteout(rest))
}

/// Cleans a tar path as if it were absolute: `.` and empty components go,
/// `..` pops but never above the root. The result has no leading or trailing
/// '/', and is empty for the root itself. Resolution inside the rootfs is
/// still done by the kernel (this is not the safety barrier).
pub fn normalize(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join(&b'/')
}

/// Splits a normalised path into (parent, base).
pub fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b"", p),
    }
}

/// Every ancestor of a normalised path, then the path itself.
pub fn prefixes(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(move |(i, _)| &p[..i])
        .chain(std::iter::once(p))
}

pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = parent.to_vec();
    if !v.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(classify(b"etc"), Some(Name::Plain));
        assert_eq!(classify(b".wh.etc"), Some(Name::Whiteout(b"etc")));
        assert_eq!(classify(b".wh..wh..opq"), Some(Name::Opaque));
        assert_eq!(classify(b".wh..hidden"), Some(Name::Whiteout(b".hidden")));
        assert_eq!(classify(b".wh."), None);
        assert_eq!(classify(b".wh.."), None);
        assert_eq!(classify(b".wh.."), None);
        assert_eq!(classify(b".wh..wh.foo"), None);
        assert_eq!(classify(b".whx"), Some(Name::Plain));
        assert_eq!(classify(b"\xff.wh.x"), Some(Name::Plain));
    }

    #[test]
    fn normalize_clamps_at_root() {
        assert_eq!(normalize(b"./a/b/"), b"a/b");
        assert_eq!(normalize(b"/etc/passwd"), b"etc/passwd");
        assert_eq!(normalize(b"../../etc/passwd"), b"etc/passwd");
        assert_eq!(normalize(b"a/../../b"), b"b");
        assert_eq!(normalize(b"a//./b/.."), b"a");
        assert_eq!(normalize(b"./"), b"");
        assert_eq!(normalize(b".."), b"");
        assert_eq!(normalize(b"a/\xffb"), b"a/\xffb");
    }

    #[test]
    fn split_and_prefixes() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        let p: Vec<&[u8]> = prefixes(b"a/b/c").collect();
        assert_eq!(p, vec![&b"a"[..], b"a/b", b"a/b/c"]);
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"a", b"x"), b"a/x");
    }
}
