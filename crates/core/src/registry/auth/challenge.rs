//! The `WWW-Authenticate` parser (RFC 7235): every challenge a registry offers, and which one
//! Tidewatch answers.

use std::collections::BTreeMap;

/// One challenge from a `WWW-Authenticate` header: a scheme (lowercased), its parameters
/// (names lowercased, values unquoted) or a token68.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
    pub token68: Option<String>,
}

impl Challenge {
    /// A parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    /// Bearer's `error` parameter (RFC 6750 §3.1): `invalid_token`, `insufficient_scope`.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }
}

/// Parses every challenge of every `WWW-Authenticate` header, in order.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse_header).collect()
}

/// The challenge to answer: Bearer, then Basic (docs/registry-auth.md#choosing-a-challenge). `None` when only schemes we do not
/// speak (Negotiate, Digest, …) are offered, or none at all.
pub fn choose(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| c.is_bearer())
        .or_else(|| challenges.iter().find(|c| c.is_basic()))
}

/// Parses one header value. RFC 7235 §4.1: `1#challenge`, where a challenge is
/// `auth-scheme [ 1*SP ( token68 / #auth-param ) ]` and both challenges and params are
/// comma-separated, so a comma does not tell them apart: a token followed by `=` is a parameter,
/// a bare token is a new scheme. Lenient where registries are sloppy: empty list elements,
/// whitespace around `=` (RFC 7235's BWS), unquoted values, unclosed quotes.
fn parse_header(input: &str) -> Vec<Challenge> {
    let chars: Vec<char> = input.chars().collect();
    let mut pos = 0;
    let mut challenges: Vec<Challenge> = Vec::new();
    // Whether the current challenge's scheme was just read, with only whitespace since: a bare
    // token there is a token68 (`Negotiate abc`), not a new scheme.
    let mut after_scheme = false;

    loop {
        let mut saw_comma = false;
        while pos < chars.len() && (chars[pos].is_whitespace() || chars[pos] == ',') {
            saw_comma |= chars[pos] == ',';
            pos += 1;
        }
        if pos >= chars.len() {
            break;
        }
        if saw_comma {
            after_scheme = false;
        }
        if chars[pos] == '"' {
            // A quoted string where a token should be: skip it rather than loop on it.
            let _ = read_quoted(&chars, &mut pos);
            continue;
        }
        if chars[pos] == '=' {
            pos += 1;
            continue;
        }
        let token = read_token(&chars, &mut pos);
        let mut look = pos;
        while look < chars.len() && chars[look].is_whitespace() {
            look += 1;
        }
        if look < chars.len() && chars[look] == '=' {
            let mut equals = 0;
            let mut after = look;
            while after < chars.len() && chars[after] == '=' {
                equals += 1;
                after += 1;
            }
            let mut next = after;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let at_end = next >= chars.len() || chars[next] == ',';
            let current = challenges.last_mut();
            // `Negotiate dG9rZW4=` — a token68 with padding right after the scheme.
            if let (true, Some(c)) = (after_scheme && (equals > 1 || (at_end && look == pos)), current) {
                if c.params.is_empty() && c.token68.is_none() {
                    c.token68 = Some(format!("{token}{}", "=".repeat(equals)));
                    pos = after;
                    after_scheme = false;
                    continue;
                }
            }
            // A parameter: `name BWS = BWS value`.
            pos = look + 1;
            while pos < chars.len() && chars[pos].is_whitespace() {
                pos += 1;
            }
            let value = if pos < chars.len() && chars[pos] == '"' {
                read_quoted(&chars, &mut pos)
            } else {
                read_value(&chars, &mut pos)
            };
            if let Some(c) = challenges.last_mut() {
                c.params.entry(token.to_ascii_lowercase()).or_insert(value);
            }
            after_scheme = false;
        } else if after_scheme {
            if let Some(c) = challenges.last_mut() {
                if c.token68.is_none() && c.params.is_empty() {
                    c.token68 = Some(token);
                }
            }
            after_scheme = false;
        } else {
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                ..Challenge::default()
            });
            after_scheme = true;
        }
    }
    challenges
}

/// A token (or token68 body): up to whitespace, `,`, `=` or `"`.
fn read_token(chars: &[char], pos: &mut usize) -> String {
    let start = *pos;
    while *pos < chars.len() && !chars[*pos].is_whitespace() && !matches!(chars[*pos], ',' | '=' | '"') {
        *pos += 1;
    }
    chars[start..*pos].iter().collect()
}

/// An unquoted parameter value: up to whitespace or `,` (`=` allowed, e.g. base64).
fn read_value(chars: &[char], pos: &mut usize) -> String {
    let start = *pos;
    while *pos < chars.len() && !chars[*pos].is_whitespace() && chars[*pos] != ',' {
        *pos += 1;
    }
    chars[start..*pos].iter().collect()
}

/// A quoted-string (RFC 7230 §3.2.6) starting at `"`, with `\` escapes; an unclosed quote runs
/// to the end of the header.
fn read_quoted(chars: &[char], pos: &mut usize) -> String {
    let mut value = String::new();
    *pos += 1;
    while *pos < chars.len() {
        match chars[*pos] {
            '\\' if *pos + 1 < chars.len() => {
                value.push(chars[*pos + 1]);
                *pos += 2;
            }
            '"' => {
                *pos += 1;
                return value;
            }
            c => {
                value.push(c);
                *pos += 1;
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Vec<Challenge> {
        parse_challenges([header])
    }

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            token68: None,
        }
    }

    // The examples of docs/registry-auth.md#examples.

    #[test]
    fn docker_hub_bearer_has_realm_and_service() {
        assert_eq!(
            one(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#),
            vec![challenge(
                "bearer",
                &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io")
                ]
            )]
        );
    }

    #[test]
    fn uppercase_basic_scheme_is_basic() {
        let parsed = one(r#"BASIC realm="Sonatype Nexus Repository Manager""#);
        assert_eq!(
            parsed,
            vec![challenge("basic", &[("realm", "Sonatype Nexus Repository Manager")])]
        );
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn quay_offers_basic_and_bearer_in_one_header_and_bearer_wins() {
        let parsed = one(r#"Basic realm="quay.io", Bearer realm="https://quay.io/v2/auth",service="quay.io""#);
        assert_eq!(
            parsed,
            vec![
                challenge("basic", &[("realm", "quay.io")]),
                challenge(
                    "bearer",
                    &[("realm", "https://quay.io/v2/auth"), ("service", "quay.io")]
                ),
            ]
        );
        assert!(choose(&parsed).unwrap().is_bearer());
    }

    #[test]
    fn empty_param_is_kept_and_quoted_scope_with_commas_stays_whole() {
        let parsed = one(r#"Bearer realm="R",empty="",service="S",scope="repository:a/b:pull,push""#);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].params.len(), 4);
        assert_eq!(parsed[0].param("empty"), Some(""));
        assert_eq!(parsed[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn negotiate_and_basic_in_two_headers_use_basic() {
        let parsed = parse_challenges(["Negotiate", r#"Basic realm="x""#]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].scheme, "negotiate");
        assert_eq!(choose(&parsed).unwrap(), &challenge("basic", &[("realm", "x")]));
    }

    #[test]
    fn lowercase_scheme_and_spaces_around_equals() {
        assert_eq!(
            one(r#"bearer  realm = "https://x/token" , service="x""#),
            vec![challenge("bearer", &[("realm", "https://x/token"), ("service", "x")])]
        );
    }

    #[test]
    fn no_header_means_no_challenge() {
        assert!(parse_challenges(Vec::<&str>::new()).is_empty());
        assert!(one("").is_empty());
        assert!(choose(&[]).is_none());
    }

    // Real registries.

    #[test]
    fn docker_hub_insufficient_scope_carries_the_scope_and_error() {
        let parsed = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull",error="insufficient_scope""#,
        );
        assert_eq!(parsed[0].error(), Some("insufficient_scope"));
        assert_eq!(parsed[0].param("scope"), Some("repository:library/nginx:pull"));
    }

    #[test]
    fn docker_hub_invalid_token_error() {
        let parsed =
            one(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",error="invalid_token""#);
        assert_eq!(parsed[0].error(), Some("invalid_token"));
    }

    #[test]
    fn ghcr_bearer_with_scope() {
        let parsed =
            one(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#);
        assert_eq!(parsed[0].param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(parsed[0].param("service"), Some("ghcr.io"));
        assert_eq!(parsed[0].param("scope"), Some("repository:user/image:pull"));
    }

    #[test]
    fn gcr_bearer() {
        let parsed = one(r#"Bearer realm="https://gcr.io/v2/token",service="gcr.io""#);
        assert_eq!(parsed[0].param("realm"), Some("https://gcr.io/v2/token"));
    }

    #[test]
    fn artifact_registry_bearer() {
        let parsed = one(
            r#"Bearer realm="https://europe-west1-docker.pkg.dev/v2/token",service="europe-west1-docker.pkg.dev",scope="repository:p/r/i:pull""#,
        );
        assert_eq!(parsed[0].params.len(), 3);
    }

    #[test]
    fn ecr_private_answers_basic_with_a_service_param() {
        let parsed =
            one(r#"Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#);
        assert!(choose(&parsed).unwrap().is_basic());
        assert_eq!(parsed[0].param("service"), Some("ecr.amazonaws.com"));
    }

    #[test]
    fn ecr_public_bearer_with_trailing_slash_realm() {
        let parsed = one(r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws""#);
        assert_eq!(parsed[0].param("realm"), Some("https://public.ecr.aws/token/"));
        assert_eq!(parsed[0].param("scope"), Some("aws"));
    }

    #[test]
    fn acr_oauth2_realm() {
        let parsed = one(r#"Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io""#);
        assert_eq!(parsed[0].param("service"), Some("myacr.azurecr.io"));
    }

    #[test]
    fn gitlab_jwt_realm_and_service_name() {
        let parsed = one(r#"Bearer realm="https://gitlab.com/jwt/auth",service="container_registry""#);
        assert_eq!(parsed[0].param("realm"), Some("https://gitlab.com/jwt/auth"));
        assert_eq!(parsed[0].param("service"), Some("container_registry"));
    }

    #[test]
    fn harbor_token_service() {
        let parsed = one(r#"Bearer realm="https://harbor.example.com/service/token",service="harbor-registry""#);
        assert_eq!(parsed[0].param("service"), Some("harbor-registry"));
    }

    #[test]
    fn nexus_bearer_realm_as_service() {
        let parsed =
            one(r#"Bearer realm="https://nexus.example.com/v2/token",service="https://nexus.example.com/v2/token""#);
        assert_eq!(parsed[0].param("service"), Some("https://nexus.example.com/v2/token"));
    }

    #[test]
    fn artifactory_sends_basic_and_bearer_in_separate_headers() {
        let parsed = parse_challenges([
            r#"Basic realm="Artifactory Realm""#,
            r#"Bearer realm="https://acme.jfrog.io/artifactory/api/docker/docker-remote/v2/token",service="acme.jfrog.io""#,
        ]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(choose(&parsed).unwrap().param("service"), Some("acme.jfrog.io"));
    }

    #[test]
    fn gitea_codeberg_wildcard_scope() {
        let parsed = one(r#"Bearer realm="https://codeberg.org/v2/token",service="container_registry",scope="*""#);
        assert_eq!(parsed[0].param("scope"), Some("*"));
    }

    #[test]
    fn distribution_htpasswd_basic() {
        assert_eq!(
            one(r#"Basic realm="basic-realm""#),
            vec![challenge("basic", &[("realm", "basic-realm")])]
        );
    }

    #[test]
    fn negotiate_with_token68_and_padding() {
        let parsed = one("Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu==");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].token68.as_deref(), Some("YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu=="));
        assert!(choose(&parsed).is_none());
    }

    #[test]
    fn token68_without_padding_followed_by_another_challenge() {
        let parsed = one(r#"Negotiate abc123, Basic realm="r""#);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].token68.as_deref(), Some("abc123"));
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn digest_challenge_with_spaces_after_commas() {
        let parsed = one(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        );
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].scheme, "digest");
        assert_eq!(parsed[0].param("qop"), Some("auth,auth-int"));
        assert_eq!(parsed[0].params.len(), 4);
        assert!(choose(&parsed).is_none());
    }

    #[test]
    fn escaped_quotes_in_quoted_string() {
        let parsed = one(r#"Bearer realm="https://x/token",service="a \"quoted\" \\ svc""#);
        assert_eq!(parsed[0].param("service"), Some(r#"a "quoted" \ svc"#));
    }

    #[test]
    fn unclosed_quote_runs_to_the_end() {
        let parsed = one(r#"Bearer service="s",realm="https://x/token"#);
        assert_eq!(parsed[0].param("realm"), Some("https://x/token"));
        assert_eq!(parsed[0].param("service"), Some("s"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        let parsed = one(r#", ,Bearer realm="r",, service="s",,"#);
        assert_eq!(parsed, vec![challenge("bearer", &[("realm", "r"), ("service", "s")])]);
    }

    #[test]
    fn unquoted_values() {
        let parsed = one("Bearer realm=https://x.example/token,service=x.example");
        assert_eq!(
            parsed,
            vec![challenge(
                "bearer",
                &[("realm", "https://x.example/token"), ("service", "x.example")]
            )]
        );
    }

    #[test]
    fn mixed_case_parameter_names_are_lowercased() {
        let parsed = one(r#"bEaReR ReAlM="https://x/token",SERVICE="x""#);
        assert_eq!(parsed[0].scheme, "bearer");
        assert_eq!(parsed[0].param("Realm"), Some("https://x/token"));
        assert_eq!(parsed[0].param("service"), Some("x"));
    }

    #[test]
    fn tabs_are_whitespace() {
        let parsed = one("Bearer\trealm=\"r\",\tservice=\"s\"");
        assert_eq!(parsed[0].params.len(), 2);
    }

    #[test]
    fn bare_scheme_then_scheme_with_params() {
        let parsed = one(r#"Negotiate, NTLM, Basic realm="corp""#);
        let schemes: Vec<&str> = parsed.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "ntlm", "basic"]);
    }

    #[test]
    fn rfc_7235_newauth_example_in_one_header() {
        // RFC 7235 §4.1's example, which browsers famously got wrong in a single header.
        let parsed = one(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#);
        assert_eq!(
            parsed,
            vec![
                challenge(
                    "newauth",
                    &[("realm", "apps"), ("type", "1"), ("title", r#"Login to "apps""#)]
                ),
                challenge("basic", &[("realm", "simple")]),
            ]
        );
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn bearer_after_negotiate_and_ntlm_in_one_header() {
        let parsed = one(r#"Negotiate, NTLM, Bearer realm="https://corp.example/token",service="corp""#);
        assert_eq!(parsed.len(), 3);
        assert_eq!(choose(&parsed).unwrap().param("service"), Some("corp"));
    }

    #[test]
    fn first_duplicate_param_wins() {
        let parsed = one(r#"Bearer realm="first",realm="second""#);
        assert_eq!(parsed[0].param("realm"), Some("first"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for input in [
            "=",
            "==,==",
            "\"",
            "Bearer =",
            "Bearer realm=",
            "a b c d",
            ",,,",
            "\"x\" Bearer",
            "Bearer realm=\"\\",
        ] {
            let _ = one(input);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn quote(value: &str) -> String {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }

        proptest! {
            #[test]
            fn parser_never_panics(input in "\\PC{0,80}") {
                let _ = parse_challenges([input.as_str()]);
            }

            #[test]
            fn formatted_challenges_parse_back(
                challenges in proptest::collection::vec(
                    (
                        "[A-Za-z][A-Za-z0-9-]{0,8}",
                        proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[ -~]{0,16}", 0..4),
                    ),
                    1..4,
                ),
                spaces in "[ \t]{0,2}",
            ) {
                let header = challenges
                    .iter()
                    .map(|(scheme, params)| {
                        let params: Vec<String> = params
                            .iter()
                            .map(|(k, v)| format!("{k}{spaces}={spaces}{}", quote(v)))
                            .collect();
                        format!("{scheme} {}", params.join(&format!(",{spaces}")))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let parsed = parse_challenges([header.as_str()]);
                prop_assert_eq!(parsed.len(), challenges.len(), "{}", header);
                for (got, (scheme, params)) in parsed.iter().zip(&challenges) {
                    prop_assert_eq!(&got.scheme, &scheme.to_ascii_lowercase());
                    prop_assert_eq!(&got.params, params, "{}", header);
                }
            }
        }
    }
}
