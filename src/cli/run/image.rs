//! `rt run --image IMAGE[:TAG] [--memory SIZE] [--cpus N] -- ARGS`: unpack
//! the image (a layout, an OCI or docker archive) through the store's layer
//! cache into a bundle under rt's root whose overlay the container mounts
//! in its own mount namespace, set the limits asked for, run it in the
//! foreground, and remove it all after.

use std::io::IsTerminal;
use std::path::Path;

use clap::Args as ClapArgs;
use serde_json::{json, Value};

use super::{run_bundle, transient_id, Args};
use crate::cli::GlobalArgs;
use crate::{image, Error, Result};

#[derive(Debug, ClapArgs)]
pub struct ImageArgs {
    /// Run this image instead of a bundle: an OCI layout DIR[:TAG], or an
    /// OCI or docker archive FILE[:TAG].
    #[arg(long)]
    pub image: Option<String>,
    /// With --image: the container id (default: generated).
    #[arg(long, requires = "image")]
    pub name: Option<String>,
    /// With --image: memory limit, in bytes or with k, m or g.
    #[arg(long, requires = "image", value_parser = parse_size)]
    pub memory: Option<i64>,
    /// With --image: CPU limit in CPUs (0.5 = half of one CPU).
    #[arg(long, requires = "image")]
    pub cpus: Option<f64>,
}

const CPU_PERIOD: u64 = 100_000;

pub fn run(g: &GlobalArgs, a: &Args) -> Result<u8> {
    if a.keep {
        return Err(Error::Usage(
            "--image cleans up after itself: no --keep".into(),
        ));
    }
    if a.id.is_some() || a.bundle.is_some() {
        return Err(Error::Usage(
            "--image replaces the bundle and id (use --name)".into(),
        ));
    }
    let img = a.image.image.as_deref().unwrap_or_default();
    let id = a.image.name.clone().unwrap_or_else(transient_id);
    crate::state::validate_id(&id)?;
    if a.detach {
        super::supervised::ensure_free(&g.root, &id)?;
    }
    // Should rt have to run sealed (no exec stub on this host), it must
    // re-execute before it unpacks anything, not in the middle of create.
    crate::security::exe::protect(&g.root, false, true).map_err(crate::process::Error::from)?;
    let (bundle, report) =
        image::prepare_run_bundle(&g.root, &g.image_store, img, &id, g.rootless(), None)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.detach {
        // Supervised: the bundle lives as long as the container.
        let r = configure(&bundle.path, a)
            .and_then(|()| super::supervised::run(g, a, &id, &bundle.path, true));
        if r.is_err() {
            let _ = bundle.remove();
        }
        return r;
    }
    let result =
        configure(&bundle.path, a).and_then(|()| run_bundle(g, a, &id, &bundle.path, true));
    let removed = bundle.remove();
    let code = result?;
    removed?;
    Ok(code)
}

/// Apply the command and limits from the command line to config.json.
fn configure(bundle: &Path, a: &Args) -> Result<()> {
    let file = bundle.join("config.json");
    let text =
        std::fs::read(&file).map_err(|e| Error::io(format!("read {}", file.display()), e))?;
    let mut v: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
    if !a.command.is_empty() {
        v["process"]["args"] = json!(a.command);
    }
    // A terminal when a person is at one; plain stdio for pipes and scripts.
    v["process"]["terminal"] =
        json!(!a.detach && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    if let Some(bytes) = a.image.memory {
        v["linux"]["resources"]["memory"]["limit"] = json!(bytes);
    }
    if let Some(cpus) = a.image.cpus {
        if !(cpus > 0.0 && cpus.is_finite()) {
            return Err(Error::Usage(format!(
                "--cpus {cpus}: must be a positive number"
            )));
        }
        let quota = (cpus * CPU_PERIOD as f64).round() as i64;
        v["linux"]["resources"]["cpu"]["quota"] = json!(quota);
        v["linux"]["resources"]["cpu"]["period"] = json!(CPU_PERIOD);
    }
    let out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    std::fs::write(&file, out).map_err(|e| Error::io(format!("write {}", file.display()), e))
}

/// "64m", "1G", "512k", "1048576" -> bytes.
fn parse_size(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: i64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                'b' => 1,
                _ => return Err(format!("unknown size unit in {s:?}")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: i64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12x").is_err());
        assert!(parse_size("").is_err());
    }
}
