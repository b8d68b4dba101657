//! The `DIR[:REF]` argument and `--platform OS/ARCH[/VARIANT]`.

use super::Error;

/// Splits `DIR[:REF]`. The tag is whatever follows the last ':' when that
/// part holds no '/', so `./a:b/img:v1` is `./a:b/img` tagged `v1`.
pub fn parse_image_arg(s: &str) -> Result<(String, Option<String>), Error> {
    if s.is_empty() {
        return Err(Error::Invalid("image argument is empty".into()));
    }
    match s.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') => {
            if dir.is_empty() {
                return Err(Error::Invalid(format!("image {s:?} has no directory")));
            }
            if tag.is_empty() {
                return Err(Error::Invalid(format!(
                    "image {s:?} has an empty reference"
                )));
            }
            validate_ref(tag)?;
            Ok((dir.to_string(), Some(tag.to_string())))
        }
        _ => Ok((s.to_string(), None)),
    }
}

/// The image-spec grammar for `org.opencontainers.image.ref.name` components.
pub fn validate_ref(r: &str) -> Result<(), Error> {
    let ok = !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@/+".contains(&b));
    if !ok {
        return Err(Error::Invalid(format!(
            "image reference {r:?} is not valid"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::Invalid(format!("platform {s:?} is not OS/ARCH[/VARIANT]"));
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// The platform this binary runs on, in Go's GOARCH names.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// Whether an index entry's platform satisfies this (wanted) platform.
    /// A wanted platform without variant accepts any variant; arm64 with
    /// no variant is the same as arm64/v8.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != arch {
            return false;
        }
        let norm = |v: Option<&str>| match (arch, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match &self.variant {
            None => true,
            Some(_) => norm(self.variant.as_deref()) == norm(variant),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_arg_forms() {
        assert_eq!(parse_image_arg("img").unwrap(), ("img".into(), None));
        assert_eq!(
            parse_image_arg("img:v1").unwrap(),
            ("img".into(), Some("v1".into()))
        );
        assert_eq!(
            parse_image_arg("/a:b/img:1.0").unwrap(),
            ("/a:b/img".into(), Some("1.0".into()))
        );
        assert_eq!(
            parse_image_arg("/a:b/img").unwrap(),
            ("/a:b/img".into(), None)
        );
        assert!(parse_image_arg("img:").is_err());
        assert!(parse_image_arg(":tag").is_err());
        assert!(parse_image_arg("").is_err());
        assert!(parse_image_arg("img:t a g").is_err());
    }

    #[test]
    fn platform_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(p.matches("linux", "arm64", None));
        assert!(!p.matches("linux", "amd64", None));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches("linux", "arm", Some("v7")));
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert!(!v7.matches("linux", "arm", None));
        let v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(v8.matches("linux", "arm64", None));
        assert!(!Platform::parse("linux/amd64")
            .unwrap()
            .matches("windows", "amd64", None));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Platform::parse("linux/arm/v6").unwrap().to_string(),
            "linux/arm/v6"
        );
    }

    #[test]
    fn host_platform_is_linux() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(h.matches("linux", &h.architecture.clone(), h.variant.as_deref()));
    }
}
