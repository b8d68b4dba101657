//! Extended attributes of layer entries: where they come from in the tar
//! stream, which ones rt applies, and the form file capabilities take.
//!
//! Sources: `SCHILY.xattr.NAME=VALUE` (GNU tar, Go's archive/tar: umoci,
//! buildah, docker; the value is raw bytes) and `LIBARCHIVE.xattr.NAME=B64`
//! (bsdtar; NAME is %-encoded, VALUE base64). When both name the same
//! attribute, the SCHILY record wins.
//!
//! Policy (what a layer may set on the files it creates):
//! - `user.*`, `trusted.*`, `system.posix_acl_{access,default}` are applied
//!   as they are;
//! - `security.capability` is applied as a v2 capability: v1 is widened
//!   and v3 loses its rootid. A v3 rootid names a uid of the machine that
//!   built the image, meaningless here; written as v2, the kernel itself
//!   scopes it when rt unpacks inside a user namespace (it stores a v3 with
//!   that namespace's root as rootid), exactly as for `setcap` there. Any
//!   other length or revision is an error: the layer is malformed.
//! - skipped, and listed in the unpack report: overlayfs's own attributes
//!   (`trusted.overlay.*`, `user.overlay.*`: a layer must not forge
//!   whiteouts, redirects or metacopy in rt's cache), other `security.*`
//!   (LSM labels, IMA/EVM signatures rt does not manage) and other
//!   `system.*` or unknown namespaces.
//! - a name longer than 255 bytes or a value longer than 64 KiB (the
//!   kernel's limits) is an error, before anything is written for it.

use std::borrow::Cow;
use std::ffi::CString;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::tarstream::{pax_records, Header};
use super::Error;

pub const NAME_MAX: usize = 255;
pub const VALUE_MAX: usize = 65536;

const CAPS: &[u8] = b"security.capability";
const REV_MASK: u32 = 0xff00_0000;
const REV1: u32 = 0x0100_0000;
const REV2: u32 = 0x0200_0000;
const REV3: u32 = 0x0300_0000;
const FLAG_EFFECTIVE: u32 = 0x1;

/// What to do with one attribute.
#[derive(Debug, PartialEq)]
pub enum Plan {
    Set(CString, Vec<u8>),
    Skip(String, &'static str),
}

/// Raw name and value.
pub type Raw = (Vec<u8>, Vec<u8>);

/// All attributes of an entry, SCHILY first, duplicates dropped.
pub fn from_header(h: &Header) -> Result<Vec<Raw>, Error> {
    let mut out: Vec<Raw> = h.xattrs.clone();
    if let Some(pax) = &h.pax {
        for r in pax_records(pax) {
            let (k, v) = r?;
            let Some(enc) = k.strip_prefix(b"LIBARCHIVE.xattr.") else {
                continue;
            };
            let name = percent_decode(enc)?;
            if out.iter().any(|(n, _)| *n == name) {
                continue;
            }
            out.push((name, base64_decode(v)?));
        }
    }
    Ok(out)
}

fn bad(name: &[u8], why: &str) -> Error {
    Error::Invalid(format!("xattr {:?}: {why}", String::from_utf8_lossy(name)))
}

/// Decides for one attribute; an error refuses the layer.
pub fn plan(name: &[u8], value: &[u8]) -> Result<Plan, Error> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(bad(name, "name is empty or longer than 255 bytes"));
    }
    if value.len() > VALUE_MAX {
        return Err(bad(name, "value is longer than 64 KiB"));
    }
    let c = CString::new(name).map_err(|_| bad(name, "name contains NUL"))?;
    let shown = String::from_utf8_lossy(name).into_owned();
    let skip = |why| Ok(Plan::Skip(shown.clone(), why));
    if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
        return skip("overlayfs metadata is never taken from a layer");
    }
    if name == CAPS {
        return Ok(Plan::Set(
            c,
            capability_v2(value).map_err(|w| bad(name, w))?,
        ));
    }
    if name.starts_with(b"user.") || name.starts_with(b"trusted.") {
        return Ok(Plan::Set(c, value.to_vec()));
    }
    if name == b"system.posix_acl_access" || name == b"system.posix_acl_default" {
        return Ok(Plan::Set(c, value.to_vec()));
    }
    if name.starts_with(b"security.") {
        return skip("security labels other than capabilities are not applied");
    }
    skip("namespace not applied")
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A file capability in the v2 on-disk form (`struct vfs_cap_data`).
pub fn capability_v2(v: &[u8]) -> Result<Vec<u8>, &'static str> {
    if v.len() < 4 {
        return Err("not a file capability (too short)");
    }
    let magic = le32(v, 0);
    if magic & !(REV_MASK | FLAG_EFFECTIVE) != 0 {
        return Err("file capability has unknown flags");
    }
    let flags = magic & FLAG_EFFECTIVE;
    // permitted and inheritable, low then high 32 bits.
    let (p_lo, i_lo, p_hi, i_hi) = match (magic & REV_MASK, v.len()) {
        (REV1, 12) => (le32(v, 4), le32(v, 8), 0, 0),
        (REV2, 20) | (REV3, 24) => (le32(v, 4), le32(v, 8), le32(v, 12), le32(v, 16)),
        _ => return Err("not a v1, v2 or v3 file capability"),
    };
    let mut out = Vec::with_capacity(20);
    for w in [REV2 | flags, p_lo, i_lo, p_hi, i_hi] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Ok(out)
}

fn percent_decode(s: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(s, "bad %-escape in a LIBARCHIVE.xattr name"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn base64_decode(v: &[u8]) -> Result<Vec<u8>, Error> {
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let trimmed: Cow<[u8]> = Cow::Borrowed(v.trim_ascii());
    engine
        .decode(trimmed)
        .map_err(|e| Error::Invalid(format!("LIBARCHIVE.xattr value is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn capabilities_become_v2() {
        let v2 = cap(&[REV2 | 1, 0x2000, 0, 0, 0]);
        assert_eq!(capability_v2(&v2).unwrap(), v2);
        let v3 = cap(&[REV3 | 1, 0x2000, 0, 1, 0, 100000]);
        assert_eq!(
            capability_v2(&v3).unwrap(),
            cap(&[REV2 | 1, 0x2000, 0, 1, 0])
        );
        let v1 = cap(&[REV1, 0x400, 0]);
        assert_eq!(capability_v2(&v1).unwrap(), cap(&[REV2, 0x400, 0, 0, 0]));
        for bad in [
            vec![],
            cap(&[REV2 | 1, 0x2000, 0, 0]),
            cap(&[REV3 | 1, 0x2000, 0, 0, 0]),
            cap(&[0x0400_0000, 0, 0, 0, 0]),
            cap(&[REV2 | 2, 0, 0, 0, 0]),
        ] {
            assert!(capability_v2(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespaces() {
        assert!(matches!(plan(b"user.a", b"x").unwrap(), Plan::Set(..)));
        assert!(matches!(plan(b"trusted.a", b"x").unwrap(), Plan::Set(..)));
        for skipped in [
            &b"trusted.overlay.opaque"[..],
            b"user.overlay.whiteout",
            b"security.selinux",
            b"system.foo",
            b"weird",
        ] {
            assert!(
                matches!(plan(skipped, b"y").unwrap(), Plan::Skip(..)),
                "{skipped:?}"
            );
        }
        assert!(plan(&[b'u'; 256], b"").is_err());
        assert!(plan(b"user.big", &vec![0; VALUE_MAX + 1]).is_err());
        assert!(plan(b"user.a\0b", b"").is_err());
        assert!(plan(b"security.capability", b"junk").is_err());
    }

    #[test]
    fn libarchive_names_and_values() {
        assert_eq!(percent_decode(b"user.a%3Db%25").unwrap(), b"user.a=b%");
        assert!(percent_decode(b"user.%zz").is_err());
        assert_eq!(base64_decode(b"AP8B").unwrap(), vec![0, 0xff, 1]);
        assert_eq!(base64_decode(b"YQ").unwrap(), b"a");
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert!(base64_decode(b"*").is_err());
    }
}
