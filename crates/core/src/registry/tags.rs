//! Tag listing: `GET /v2/<name>/tags/list?n=…`, following `Link: <…>; rel="next"` (RFC 8288)
//! safely: same origin only, no loops, a page cap.

use std::collections::HashSet;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::bounds::MAX_TAG_PAGE_BYTES;
use super::transport::same_origin;
use super::{RegistryClient, RegistryError, RequestKind};
use crate::reference::is_valid_tag;

/// The tags of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagList {
    pub tags: Vec<String>,
    /// Pages fetched.
    pub pages: usize,
    /// Why listing stopped before the registry's last page (the page cap, a link back to a page
    /// already read), so `tags` may be incomplete; `None` when every page was read.
    pub cut: Option<String>,
}

#[derive(Deserialize)]
struct TagsPage {
    // distribution answers `"tags": null` for a repository without tags.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The `rel="next"` target of a `Link` header value, unresolved.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        // Parameters run to the next link, i.e. the next `<` (URLs cannot contain a raw `<`).
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &after[params_end..];
    }
}

impl RegistryClient {
    /// Every tag of `repository`, page by page as the registry links them.
    pub async fn list_tags(&self, repository: &str) -> Result<TagList, RegistryError> {
        let mut url = self.repository_url(repository, "tags/list", None)?;
        url.query_pairs_mut()
            .append_pair("n", &self.settings.tag_page_size.to_string());
        let mut seen: HashSet<String> = HashSet::new();
        let mut list = TagList {
            tags: Vec::new(),
            pages: 0,
            cut: None,
        };
        loop {
            seen.insert(url.to_string());
            let response = self
                .send_authenticated(RequestKind::Tags, Method::GET, url.clone(), repository, None)
                .await?;
            let status = response.status();
            if !status.is_success() {
                return Err(self.status_error(&response, repository, None).await);
            }
            let link = response
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link);
            let what = format!("the tag list of {repository}");
            let bytes = response.body(self, MAX_TAG_PAGE_BYTES, &what).await?;
            let page: TagsPage = serde_json::from_slice(&bytes).map_err(|e| RegistryError::InvalidResponse {
                registry: self.registry.clone(),
                what: format!("the tag list of {repository}"),
                reason: format!("not the expected JSON: {e}"),
            })?;
            // A server's junk (a megabyte "tag", control characters) never reaches version parsing.
            list.tags
                .extend(page.tags.unwrap_or_default().into_iter().filter(|t| is_valid_tag(t)));
            list.pages += 1;

            let Some(link) = link else {
                return Ok(list);
            };
            let next = url.join(&link).map_err(|e| RegistryError::InvalidResponse {
                registry: self.registry.clone(),
                what: format!("the tag list of {repository}"),
                reason: format!("its next-page link is not a URL: {e}"),
            })?;
            if !same_origin(&url, &next) {
                return Err(RegistryError::CrossHostLink {
                    registry: self.registry.clone(),
                    link: next.to_string(),
                });
            }
            if seen.contains(next.as_str()) {
                tracing::warn!(registry = %self.registry, repository, link = %next, "tag list links back to a page already read; stopping");
                list.cut = Some(format!(
                    "links back to a page it already sent (after {} pages)",
                    list.pages
                ));
                return Ok(list);
            }
            if list.pages >= self.settings.max_tag_pages {
                tracing::warn!(registry = %self.registry, repository, pages = list.pages, "tag list page cap reached; stopping");
                list.cut = Some(format!("has more than {} pages, the most Tidewatch reads", list.pages));
                return Ok(list);
            }
            url = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn next_link_from_distribution() {
        assert_eq!(
            next_link(r#"</v2/library/nginx/tags/list?last=1.25&n=100>; rel="next""#).as_deref(),
            Some("/v2/library/nginx/tags/list?last=1.25&n=100")
        );
    }

    #[test]
    fn next_link_unquoted_and_among_other_links() {
        assert_eq!(
            next_link(r#"</first>; rel="first", </v2/x/tags/list?last=b>; rel=next"#).as_deref(),
            Some("/v2/x/tags/list?last=b")
        );
        assert_eq!(
            next_link(r#"<https://r.example/v2/x/tags/list?n=2&last=b>;rel="prev next""#).as_deref(),
            Some("https://r.example/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"</a>; REL="Next""#).as_deref(), Some("/a"));
    }

    #[test]
    fn no_next_link() {
        assert_eq!(next_link(r#"</prev>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<unclosed; rel=next"), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn origin_comparison_includes_port_and_scheme() {
        let base = Url::parse("https://r.example/v2/x/tags/list").unwrap();
        assert!(same_origin(&base, &Url::parse("https://r.example:443/v2/y").unwrap()));
        assert!(!same_origin(&base, &Url::parse("https://evil.example/v2/x").unwrap()));
        assert!(!same_origin(&base, &Url::parse("http://r.example/v2/x").unwrap()));
        assert!(!same_origin(&base, &Url::parse("https://r.example:8443/v2/x").unwrap()));
    }
}
