//! The new container, built from the old one's `inspect` (docs/updates.md#what-is-kept): everything
//! the user set is kept exactly, and the old image's defaults are left out so the new image's apply.
//!
//! `inspect` cannot tell a value the user set from one the image supplied: the engine merged them
//! when the container was created. So a value equal to the *old image's* default is taken to be
//! the image's and left out (the new image then supplies its own, as `docker run` would); a value
//! that differs is the user's and is kept as it is. Copying the whole `Config` over instead (what
//! most updaters do) keeps the old image's `PATH` and labels on the new image forever.

use std::collections::{BTreeSet, HashMap};

use crate::engine::model::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig, ImageConfig, MountType,
    NetworkingConfig,
};

/// What the new container is created from, and what happens between create and start.
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    /// The name it is created under: the old container's.
    pub name: String,
    /// The `create` request: the user's configuration, without the old image's defaults.
    pub body: ContainerCreateBody,
    /// Networks to connect before the first start, on engines that create on one network only
    /// (API below 1.44).
    pub connect: Vec<(String, EndpointSettings)>,
    /// Anonymous volumes carried over by their names, as (volume, path in the container).
    pub carried_volumes: Vec<(String, String)>,
}

/// What a blueprint is built from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub old: &'a ContainerInspectResponse,
    /// The configuration of the image the old container runs: its defaults are left out.
    pub old_image: &'a ImageConfig,
    /// The reference the new container is created from.
    pub image: &'a str,
    /// Names of containers by ID, to write `container:<id>` modes as `container:<name>`.
    pub names_by_id: &'a HashMap<String, String>,
    /// Whether the engine creates a container on several networks at once (API 1.44 and later).
    pub create_on_all_networks: bool,
}

/// Builds the new container from the old one (see the module's documentation for the rules).
pub fn blueprint(source: Source<'_>) -> Blueprint {
    let old = source.old;
    let id = old.id.as_deref().unwrap_or_default();
    let short_id: String = id.chars().take(12).collect();
    let config = old.config.clone().unwrap_or_default();
    let image = source.old_image;
    let mut host_config = old.host_config.clone().unwrap_or_default();
    resolve_container_modes(&mut host_config, source.names_by_id);
    let network_mode = host_config.network_mode.clone().unwrap_or_default();
    let shares_a_namespace = network_mode == "host" || network_mode.starts_with("container:");

    // An entrypoint the user set resets the image's command (as `docker run --entrypoint` does),
    // so a command that looks like the image's is still the user's.
    let (entrypoint, cmd) = if same_list(&config.entrypoint, &image.entrypoint) {
        (None, unless_default(config.cmd, &image.cmd, same_list))
    } else {
        (config.entrypoint, config.cmd)
    };
    let hostname = config
        .hostname
        .filter(|h| !h.is_empty() && *h != short_id && !id.starts_with(h.as_str()) && !shares_a_namespace);

    let carried_volumes = anonymous_volumes(old, &mut host_config);
    let (networking_config, connect) = networks(old, &network_mode, &short_id, source.create_on_all_networks);

    let body = ContainerCreateBody {
        hostname,
        domainname: config.domainname,
        user: unless_default(config.user, &image.user, same_text),
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports: without_defaults(config.exposed_ports, &image.exposed_ports),
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env: without_defaults(config.env, &image.env),
        cmd,
        healthcheck: unless_default(config.healthcheck, &image.healthcheck, |a, b| a == b),
        args_escaped: unless_default(config.args_escaped, &image.args_escaped, |a, b| a == b),
        image: Some(source.image.to_string()),
        volumes: without_defaults(config.volumes, &image.volumes),
        working_dir: unless_default(config.working_dir, &image.working_dir, same_text),
        entrypoint,
        network_disabled: config.network_disabled,
        on_build: unless_default(config.on_build, &image.on_build, same_list),
        labels: labels_without_defaults(config.labels, &image.labels),
        stop_signal: unless_default(config.stop_signal, &image.stop_signal, same_text),
        stop_timeout: config.stop_timeout,
        shell: unless_default(config.shell, &image.shell, same_list),
        host_config: Some(host_config),
        networking_config,
    };
    Blueprint {
        name: container_name(old),
        body,
        connect,
        carried_volumes,
    }
}

/// The container's name without the engine's leading `/`.
pub fn container_name(inspect: &ContainerInspectResponse) -> String {
    inspect
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

/// An endpoint as it can be given to `create` or `connect`: what the user set (aliases without the
/// engine's short-ID alias, static IPs, links, driver options, gateway priority), none of what the
/// engine assigned at start (addresses, gateway, endpoint and network IDs, MAC address).
pub fn carried_endpoint(endpoint: &EndpointSettings, short_id: &str) -> EndpointSettings {
    let aliases: Vec<String> = endpoint
        .aliases
        .iter()
        .flatten()
        .filter(|alias| alias.as_str() != short_id)
        .cloned()
        .collect();
    let ipam = endpoint.ipam_config.clone().filter(|ipam| {
        ipam.ipv4_address.as_deref().is_some_and(|a| !a.is_empty())
            || ipam.ipv6_address.as_deref().is_some_and(|a| !a.is_empty())
            || ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty())
    });
    EndpointSettings {
        ipam_config: ipam,
        links: endpoint.links.clone().filter(|l| !l.is_empty()),
        aliases: (!aliases.is_empty()).then_some(aliases),
        driver_opts: endpoint.driver_opts.clone().filter(|d| !d.is_empty()),
        gw_priority: endpoint.gw_priority.filter(|p| *p != 0),
        ..EndpointSettings::default()
    }
}

/// The networks the container is attached to, with their endpoints as the engine reports them.
/// Host, none and `container:` modes have none to carry; an entry the engine lists without a
/// network ID (the default bridge of an engine started with `--bridge=none`) is not attached.
pub fn attached_networks(old: &ContainerInspectResponse) -> Vec<(String, EndpointSettings)> {
    let mode = old
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        return Vec::new();
    }
    let mut networks: Vec<(String, EndpointSettings)> = old
        .network_settings
        .as_ref()
        .and_then(|s| s.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, endpoint)| endpoint.network_id.as_deref().is_some_and(|id| !id.is_empty()))
        .collect();
    networks.sort_by(|a, b| a.0.cmp(&b.0));
    networks
}

/// The MAC address the user set on the container's primary network, if any. Before API 1.44 the
/// engine derives every MAC it assigns from the IPv4 address (`02:42:` + the address), so one that
/// differs was set by hand. Later engines assign random ones and report no difference, so nothing
/// is detected there (docs/updates.md#what-is-kept).
pub fn user_mac_address(old: &ContainerInspectResponse) -> Option<String> {
    attached_networks(old).into_iter().find_map(|(_, endpoint)| {
        let mac = endpoint.mac_address.filter(|m| !m.is_empty())?;
        let ip: std::net::Ipv4Addr = endpoint.ip_address.as_deref()?.parse().ok()?;
        let [a, b, c, d] = ip.octets();
        let derived = format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}");
        (!mac.eq_ignore_ascii_case(&derived)).then_some(mac)
    })
}

/// `container:<id>` network, PID and IPC modes name the provider by its name, which stays valid
/// when the provider itself is recreated (and reads better in `inspect`).
fn resolve_container_modes(host_config: &mut HostConfig, names_by_id: &HashMap<String, String>) {
    for mode in [
        &mut host_config.network_mode,
        &mut host_config.pid_mode,
        &mut host_config.ipc_mode,
    ] {
        if let Some(target) = mode.as_deref().and_then(|m| m.strip_prefix("container:")) {
            let name = names_by_id
                .iter()
                .find(|(id, _)| !target.is_empty() && id.starts_with(target))
                .map(|(_, name)| name.clone());
            if let Some(name) = name {
                *mode = Some(format!("container:{name}"));
            }
        }
    }
}

/// Anonymous volumes (a declared `VOLUME` or `-v /path` with nothing mounted there by the user)
/// would be created afresh, empty, for the new container. They are mounted by their names instead:
/// a `name:path` bind, or the volume's name filled into an anonymous `--mount`.
fn anonymous_volumes(old: &ContainerInspectResponse, host_config: &mut HostConfig) -> Vec<(String, String)> {
    let mounts = old.mounts.clone().unwrap_or_default();
    let volume_at = |path: &str| {
        mounts
            .iter()
            .find(|m| m.typ.as_deref() == Some("volume") && m.destination.as_deref() == Some(path))
            .and_then(|m| m.name.clone().map(|name| (name, m.rw != Some(false))))
    };
    let mut carried = Vec::new();
    // `--mount type=volume,dst=/path` without a source.
    for mount in host_config.mounts.iter_mut().flatten() {
        let anonymous = mount.typ == Some(MountType::VOLUME) && mount.source.as_deref().is_none_or(str::is_empty);
        if let (true, Some(target)) = (anonymous, mount.target.clone()) {
            if let Some((name, _)) = volume_at(&target) {
                mount.source = Some(name.clone());
                carried.push((name, target));
            }
        }
    }
    let mut covered: BTreeSet<String> = host_config
        .binds
        .iter()
        .flatten()
        .filter_map(|bind| bind_destination(bind))
        .collect();
    covered.extend(host_config.mounts.iter().flatten().filter_map(|m| m.target.clone()));
    covered.extend(host_config.tmpfs.iter().flat_map(|t| t.keys().cloned()));
    let declared = old.config.as_ref().and_then(|c| c.volumes.clone()).unwrap_or_default();
    for path in declared {
        if covered.contains(&path) {
            continue;
        }
        if let Some((name, writable)) = volume_at(&path) {
            let mode = if writable { "" } else { ":ro" };
            host_config
                .binds
                .get_or_insert_with(Vec::new)
                .push(format!("{name}:{path}{mode}"));
            carried.push((name, path));
        }
    }
    carried
}

/// The container path of a `-v` bind (`src:dst[:opts]`, or a lone `dst`).
fn bind_destination(bind: &str) -> Option<String> {
    let parts: Vec<&str> = bind.split(':').collect();
    match parts.as_slice() {
        [dst] => Some(dst.to_string()),
        [_, dst] | [_, dst, _] => Some(dst.to_string()),
        _ => None,
    }
}

/// The networking part of `create`, and the networks to connect before start. Engines before API
/// 1.44 take a single endpoint at create: the primary network (the one `NetworkMode` names) goes
/// there and the others are connected after.
fn networks(
    old: &ContainerInspectResponse,
    network_mode: &str,
    short_id: &str,
    create_on_all: bool,
) -> (Option<NetworkingConfig>, Vec<(String, EndpointSettings)>) {
    let endpoints: Vec<(String, EndpointSettings)> = attached_networks(old)
        .into_iter()
        .map(|(name, endpoint)| {
            let carried = carried_endpoint(&endpoint, short_id);
            (name, carried)
        })
        .collect();
    if endpoints.is_empty() {
        return (None, Vec::new());
    }
    let primary = endpoints
        .iter()
        .position(|(name, _)| name == network_mode || (network_mode == "default" && name == "bridge"))
        .unwrap_or(0);
    let (at_create, after): (Vec<_>, Vec<_>) = if create_on_all {
        (endpoints, Vec::new())
    } else {
        let mut rest = endpoints;
        let first = rest.remove(primary);
        (vec![first], rest)
    };
    let config = NetworkingConfig {
        endpoints_config: Some(at_create.into_iter().collect()),
    };
    (Some(config), after)
}

fn same_list(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}

fn same_text(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}

/// `value`, unless it equals the image's default (then the new image's default applies).
fn unless_default<T>(
    value: Option<T>,
    default: &Option<T>,
    same: impl Fn(&Option<T>, &Option<T>) -> bool,
) -> Option<T> {
    if same(&value, default) {
        None
    } else {
        value
    }
}

/// The entries of a list (Env, Volumes, ExposedPorts) that are not the image's.
fn without_defaults(values: Option<Vec<String>>, defaults: &Option<Vec<String>>) -> Option<Vec<String>> {
    let defaults: BTreeSet<&String> = defaults.iter().flatten().collect();
    let kept: Vec<String> = values
        .into_iter()
        .flatten()
        .filter(|value| !defaults.contains(value))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// The labels that are not the image's (same key and value).
fn labels_without_defaults(
    labels: Option<HashMap<String, String>>,
    defaults: &Option<HashMap<String, String>>,
) -> Option<HashMap<String, String>> {
    let kept: HashMap<String, String> = labels
        .into_iter()
        .flatten()
        .filter(|(key, value)| defaults.as_ref().and_then(|d| d.get(key)) != Some(value))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{ContainerConfig, EndpointIpamConfig, HealthConfig, Mount, MountPoint, NetworkSettings};

    const ID: &str = "9635aa91d243d89d69b18e5685572286a4f24e6cd591f09ab597238b32fd2a01";

    fn strings(values: &[&str]) -> Option<Vec<String>> {
        Some(values.iter().map(|v| v.to_string()).collect())
    }

    fn image() -> ImageConfig {
        ImageConfig {
            env: strings(&["PATH=/usr/bin:/bin", "APP_MODE=classic"]),
            cmd: strings(&["serve", "--port", "80"]),
            entrypoint: strings(&["/entry.sh"]),
            working_dir: Some("/app".into()),
            user: Some("app".into()),
            volumes: strings(&["/data"]),
            exposed_ports: strings(&["80/tcp"]),
            labels: Some(HashMap::from([
                ("version".into(), "1".into()),
                ("vendor".into(), "acme".into()),
            ])),
            healthcheck: Some(HealthConfig {
                test: strings(&["CMD", "check"]),
                ..Default::default()
            }),
            stop_signal: Some("SIGQUIT".into()),
            ..Default::default()
        }
    }

    /// A container as the engine reports one created from `image()` with some user settings.
    fn container() -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some(ID.into()),
            name: Some("/web".into()),
            config: Some(ContainerConfig {
                hostname: Some(ID[..12].into()),
                env: strings(&["PATH=/usr/bin:/bin", "APP_MODE=classic", "TOKEN_FILE=/run/token"]),
                cmd: strings(&["serve", "--port", "80"]),
                entrypoint: strings(&["/entry.sh"]),
                working_dir: Some("/app".into()),
                user: Some("app".into()),
                volumes: strings(&["/data", "/cache"]),
                exposed_ports: strings(&["80/tcp", "9000/tcp"]),
                labels: Some(HashMap::from([
                    ("version".into(), "1".into()),
                    ("vendor".into(), "acme".into()),
                    ("team".into(), "blue".into()),
                ])),
                healthcheck: Some(HealthConfig {
                    test: strings(&["CMD", "check"]),
                    ..Default::default()
                }),
                stop_signal: Some("SIGQUIT".into()),
                image: Some("app:1".into()),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("front".into()),
                binds: strings(&["/srv/conf:/etc/app:ro", "named:/cache"]),
                memory: Some(64 << 20),
                cap_add: strings(&["NET_ADMIN"]),
                ..Default::default()
            }),
            mounts: Some(vec![
                MountPoint {
                    typ: Some("volume".into()),
                    name: Some("4f1e2d".into()),
                    destination: Some("/data".into()),
                    rw: Some(true),
                    ..Default::default()
                },
                MountPoint {
                    typ: Some("volume".into()),
                    name: Some("named".into()),
                    destination: Some("/cache".into()),
                    rw: Some(true),
                    ..Default::default()
                },
            ]),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    (
                        "front".to_string(),
                        EndpointSettings {
                            aliases: strings(&["web", &ID[..12]]),
                            ipam_config: Some(EndpointIpamConfig {
                                ipv4_address: Some("172.30.0.5".into()),
                                ..Default::default()
                            }),
                            network_id: Some("n1".into()),
                            ip_address: Some("172.30.0.5".into()),
                            mac_address: Some("02:42:ac:1e:00:05".into()),
                            endpoint_id: Some("e1".into()),
                            ..Default::default()
                        },
                    ),
                    (
                        "back".to_string(),
                        EndpointSettings {
                            aliases: strings(&[&ID[..12]]),
                            ipam_config: Some(EndpointIpamConfig::default()),
                            network_id: Some("n2".into()),
                            ip_address: Some("172.31.0.2".into()),
                            ..Default::default()
                        },
                    ),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn build(old: &ContainerInspectResponse, all_networks: bool) -> Blueprint {
        blueprint(Source {
            old,
            old_image: &image(),
            image: "app:2",
            names_by_id: &HashMap::new(),
            create_on_all_networks: all_networks,
        })
    }

    #[test]
    fn values_equal_to_the_old_images_defaults_are_left_to_the_new_image() {
        let body = build(&container(), false).body;
        assert_eq!(body.image.as_deref(), Some("app:2"));
        assert_eq!(body.env, strings(&["TOKEN_FILE=/run/token"]));
        assert_eq!(body.cmd, None);
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.working_dir, None);
        assert_eq!(body.user, None);
        assert_eq!(body.healthcheck, None);
        assert_eq!(body.stop_signal, None);
        assert_eq!(body.volumes, strings(&["/cache"]));
        assert_eq!(body.exposed_ports, strings(&["9000/tcp"]));
        assert_eq!(body.labels, Some(HashMap::from([("team".into(), "blue".into())])));
        assert_eq!(
            body.hostname, None,
            "the generated hostname (the short ID) is not carried"
        );
    }

    #[test]
    fn the_users_overrides_are_kept_exactly_and_lists_stay_lists() {
        let mut old = container();
        let config = old.config.as_mut().unwrap();
        config.entrypoint = strings(&["/bin/sh", "-c"]);
        config.cmd = strings(&["serve", "--port", "80"]);
        config.user = Some("root".into());
        config.hostname = Some("web-1".into());
        config.env = strings(&["PATH=/opt/bin", "APP_MODE=classic"]);
        let body = build(&old, false).body;
        assert_eq!(body.entrypoint, strings(&["/bin/sh", "-c"]));
        // With the user's entrypoint the image's command no longer applies, so this one is theirs.
        assert_eq!(body.cmd, strings(&["serve", "--port", "80"]));
        assert_eq!(body.user.as_deref(), Some("root"));
        assert_eq!(body.hostname.as_deref(), Some("web-1"));
        assert_eq!(body.env, strings(&["PATH=/opt/bin"]));
    }

    #[test]
    fn the_host_configuration_is_carried_whole_and_anonymous_volumes_by_name() {
        let plan = build(&container(), false);
        let host = plan.body.host_config.unwrap();
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.cap_add, strings(&["NET_ADMIN"]));
        assert_eq!(
            host.binds,
            strings(&["/srv/conf:/etc/app:ro", "named:/cache", "4f1e2d:/data"])
        );
        assert_eq!(plan.carried_volumes, vec![("4f1e2d".to_string(), "/data".to_string())]);
    }

    #[test]
    fn an_anonymous_mount_gets_its_volumes_name() {
        let mut old = container();
        let host = old.host_config.as_mut().unwrap();
        host.binds = strings(&["named:/cache"]);
        host.mounts = Some(vec![Mount {
            target: Some("/data".into()),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]);
        let plan = build(&old, false);
        let host = plan.body.host_config.unwrap();
        assert_eq!(host.binds, strings(&["named:/cache"]), "no second mount at /data");
        assert_eq!(host.mounts.unwrap()[0].source.as_deref(), Some("4f1e2d"));
    }

    #[test]
    fn endpoints_keep_aliases_and_static_ips_but_not_what_the_engine_assigned() {
        let plan = build(&container(), false);
        let at_create = plan.body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(at_create.len(), 1, "API 1.41 creates on one network");
        let front = &at_create["front"];
        assert_eq!(front.aliases, strings(&["web"]));
        assert_eq!(
            front.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("172.30.0.5")
        );
        assert_eq!(front.ip_address, None);
        assert_eq!(front.mac_address, None);
        assert_eq!(front.network_id, None);
        assert_eq!(plan.connect.len(), 1);
        let (name, back) = &plan.connect[0];
        assert_eq!(name, "back");
        assert_eq!(back.aliases, None, "only the short-ID alias was there");
        assert_eq!(back.ipam_config, None, "an empty IPAM config is no static IP");

        let all = build(&container(), true);
        assert_eq!(all.body.networking_config.unwrap().endpoints_config.unwrap().len(), 2);
        assert!(all.connect.is_empty());
    }

    #[test]
    fn container_modes_name_the_provider_and_drop_the_hostname() {
        let mut old = container();
        old.config.as_mut().unwrap().hostname = Some("web-1".into());
        old.host_config.as_mut().unwrap().network_mode = Some(format!("container:{}", &ID[..20]));
        let names = HashMap::from([(ID.to_string(), "vpn".to_string())]);
        let plan = blueprint(Source {
            old: &old,
            old_image: &image(),
            image: "app:2",
            names_by_id: &names,
            create_on_all_networks: false,
        });
        assert_eq!(
            plan.body.host_config.unwrap().network_mode.as_deref(),
            Some("container:vpn")
        );
        assert_eq!(plan.body.hostname, None);
        assert_eq!(plan.body.networking_config, None);
    }

    #[test]
    fn a_mac_address_set_by_hand_is_told_from_the_engines_own() {
        let old = container();
        assert_eq!(user_mac_address(&old), None, "02:42 + the IPv4 address is the engine's");
        let mut set = container();
        let networks = set.network_settings.as_mut().unwrap().networks.as_mut().unwrap();
        networks.get_mut("front").unwrap().mac_address = Some("02:00:00:00:00:01".into());
        assert_eq!(user_mac_address(&set).as_deref(), Some("02:00:00:00:00:01"));
    }
}
