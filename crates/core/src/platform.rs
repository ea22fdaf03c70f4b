//! Platforms (`os/architecture[/variant]`) as engines report them and registries index them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An image platform, normalized the way containerd's `platforms` package does it, so that
/// `linux/arm64` and `linux/arm64/v8` compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {input:?}: expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8")]
pub struct PlatformError {
    pub input: String,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.trim().to_ascii_lowercase();
        let (architecture, implied_variant) = normalize_architecture(&architecture.trim().to_ascii_lowercase());
        let variant = variant
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .or(implied_variant);
        let variant = normalize_variant(&architecture, variant);
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// The platform of the machine this runs on (the default for `--image` checks).
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        // Containers run Linux images even on macOS and Windows desktops (in a VM).
        Platform::new("linux", architecture, None)
    }

    /// Whether an index entry for `candidate` serves this platform. A missing variant on either
    /// side matches (registries often omit it), except where the default variant rules apply.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && match (&self.variant, &candidate.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Architecture aliases seen in the wild (uname names, Go names).
fn normalize_architecture(arch: &str) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "i386" | "i686" => ("386".into(), None),
        "aarch64" => ("arm64".into(), None),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        // `uname -m` on 32-bit Arm, which Swarm nodes report as their architecture.
        "armv7l" | "armv7" => ("arm".into(), Some("v7".into())),
        "armv6l" | "armv6" => ("arm".into(), Some("v6".into())),
        other => (other.into(), None),
    }
}

/// containerd's defaults: arm64 means arm64/v8 (so the variant is dropped), arm means arm/v7.
fn normalize_variant(arch: &str, variant: Option<String>) -> Option<String> {
    match (arch, variant.as_deref()) {
        ("arm64", Some("v8") | Some("8")) => None,
        ("arm", None) => Some("v7".into()),
        ("arm", Some(v)) if !v.starts_with('v') => Some(format!("v{v}")),
        _ => variant,
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let err = || PlatformError { input: s.to_string() };
        if parts.iter().any(|p| p.trim().is_empty()) {
            return Err(err());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes_platform_strings() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/arm64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/v6", "linux/arm/v6"),
            ("linux/armv7l", "linux/arm/v7"),
            ("linux/armv6l", "linux/arm/v6"),
            ("Linux/AMD64", "linux/amd64"),
            ("windows/amd64", "windows/amd64"),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Platform>().unwrap().to_string(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_malformed_platform_strings() {
        for input in ["", "linux", "linux/", "/amd64", "linux/arm/v7/extra", "linux//v7"] {
            let error = input.parse::<Platform>().unwrap_err();
            assert!(error.to_string().contains("os/architecture"), "{input}: {error}");
        }
    }

    #[test]
    fn arm64_without_variant_matches_arm64_v8() {
        let local: Platform = "linux/arm64".parse().unwrap();
        let entry = Platform::new("linux", "arm64", Some("v8"));
        assert!(local.matches(&entry));
        assert!(!local.matches(&"linux/amd64".parse().unwrap()));
        assert!(!"linux/arm/v6"
            .parse::<Platform>()
            .unwrap()
            .matches(&"linux/arm/v7".parse().unwrap()));
    }
}
