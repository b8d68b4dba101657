//! The five capability sets of `process.capabilities`. The bounding set is
//! cut while rt is still root (it needs CAP_SETPCAP); the others are set
//! after the uid switch, which keeps the permitted set thanks to
//! PR_SET_KEEPCAPS.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use super::{Error, Result};

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = Capability::from_str(&name).map_err(|_| Error::UnknownCapability(name))?;
        out.insert(cap);
    }
    Ok(out)
}

fn caps_err(set: &'static str) -> impl Fn(caps::errors::CapsError) -> Error {
    move |e| Error::Caps {
        set,
        cause: e.to_string(),
    }
}

/// Drop every capability not in the bounding set. With no `capabilities`
/// at all the process gets none, as runc does.
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = match caps {
        Some(c) => convert(c.bounding())?,
        None => CapsHashSet::new(),
    };
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(caps_err("bounding"))?;
        }
    }
    Ok(())
}

/// Set permitted, inheritable, effective and ambient, in an order the
/// kernel accepts (effective and ambient must be within permitted).
pub fn apply_capabilities(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let empty = LinuxCapabilities::default();
    let c = caps.unwrap_or(&empty);
    let (permitted, inheritable, effective, ambient) = match caps {
        Some(_) => (
            convert(c.permitted())?,
            convert(c.inheritable())?,
            convert(c.effective())?,
            convert(c.ambient())?,
        ),
        None => Default::default(),
    };
    // Raise nothing that is not permitted: set effective to the
    // intersection first so lowering permitted cannot fail.
    let eff_now: CapsHashSet = effective.intersection(&permitted).copied().collect();
    caps::set(None, CapSet::Effective, &eff_now).map_err(caps_err("effective"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(caps_err("permitted"))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(caps_err("inheritable"))?;
    caps::set(None, CapSet::Effective, &effective).map_err(caps_err("effective"))?;
    caps::clear(None, CapSet::Ambient).map_err(caps_err("ambient"))?;
    // The kernel only lets a capability be ambient if it is also permitted
    // and inheritable. runc's default config lists ambient capabilities
    // without inheritable ones and runc skips them; configs rely on that,
    // so rt does the same instead of failing.
    for cap in ambient.intersection(&inheritable) {
        if permitted.contains(cap) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(caps_err("ambient"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_names() {
        let c: LinuxCapabilities =
            serde_json::from_str(r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"]}"#).unwrap();
        let set = convert(c.bounding()).unwrap();
        assert!(set.contains(&Capability::CAP_KILL));
        assert!(set.contains(&Capability::CAP_NET_BIND_SERVICE));
        assert_eq!(set.len(), 2);
    }
}
