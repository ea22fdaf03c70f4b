//! Docker Hub's names in one place: what references are normalized to, the other hosts that mean
//! Docker Hub, where its API lives and how `docker login` keys it. Every module asks here.

/// The registry name Docker Hub references are normalized to.
pub const NAME: &str = "docker.io";

/// Hosts that name Docker Hub too: the legacy index, the registry API host, the web host.
pub const ALIASES: [&str; 3] = ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

/// Where Docker Hub's registry API answers (`docker.io` itself serves no API).
pub const API_HOST: &str = "registry-1.docker.io";

/// The key `docker login` writes for Docker Hub in `config.json`'s `auths`.
pub const CONFIG_KEY: &str = "https://index.docker.io/v1/";

/// The namespace of official images: `nginx` is `library/nginx`.
pub const OFFICIAL_NAMESPACE: &str = "library";

/// Whether `host` (no scheme, no path; any case) is Docker Hub.
pub fn is_docker_hub(host: &str) -> bool {
    host.eq_ignore_ascii_case(NAME) || ALIASES.iter().any(|alias| host.eq_ignore_ascii_case(alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_and_case_is_docker_hub_and_nothing_else_is() {
        for host in [
            "docker.io",
            "Docker.IO",
            "index.docker.io",
            "registry-1.docker.io",
            "registry.hub.docker.com",
        ] {
            assert!(is_docker_hub(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "docker.m.daocloud.io",
            "mirror.gcr.io",
            "docker.io.evil.example",
        ] {
            assert!(!is_docker_hub(host), "{host}");
        }
    }
}
