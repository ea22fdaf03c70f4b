//! Which updates are new enough to announce: each version is notified once, remembered in the
//! store across restarts, and only for the kinds the configuration asks for; and the words of the
//! notification that says how an automatic update ended.

use serde::Serialize;

use crate::checker::{short_digest, CheckReport, ContainerResult, Status};
use crate::config::Config;
use crate::store::{NotifiedKey, Store, StoreError};
use crate::update::{Action, OutcomeStatus, UpdateOutcome};
use crate::version::UpdateKind;

/// More new updates than this in one check get one summary notification instead of one each.
pub const SUMMARY_THRESHOLD: usize = 3;

/// A newly found update, worth one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUpdate {
    /// The engine it runs on (the notification's Update action needs it with the ID).
    pub engine: Option<String>,
    pub container_id: Option<String>,
    /// The container's display name (or its name).
    pub name: String,
    pub image: String,
    pub current: String,
    pub new: String,
    pub kind: UpdateKind,
}

/// How long the app waits for a click on a notification before it stops listening.
pub const CLICK_WAIT: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// One notification as the desktop shows it: text already escaped for servers that render
/// markup (the body may be read as a subset of HTML), and the container a click opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub summary: String,
    pub body: String,
    pub container_id: Option<String>,
    /// The container's engine when the notification offers "Update" (one new version of one
    /// container): the action opens the window at that update's confirmation.
    pub update_on: Option<String>,
}

/// The notifications for `updates`: one each, or one summary when there are more than
/// [`SUMMARY_THRESHOLD`]. Names and tags come from container labels and registries, so every
/// piece is escaped: `<b>` in a label shows as text, never as markup or a link.
pub fn announcements(updates: &[NewUpdate]) -> Vec<Announcement> {
    if updates.len() > SUMMARY_THRESHOLD {
        let names: Vec<String> = updates.iter().take(5).map(|u| escape_markup(&u.name)).collect();
        let more = updates.len().saturating_sub(names.len());
        let body = if more > 0 {
            format!("{} and {more} more", names.join(", "))
        } else {
            names.join(", ")
        };
        return vec![Announcement {
            summary: format!("{} updates available", updates.len()),
            body,
            container_id: None,
            update_on: None,
        }];
    }
    updates
        .iter()
        .map(|update| Announcement {
            summary: format!("Update for {}", escape_markup(&update.name)),
            body: format!(
                "{} → {} ({})\n{}",
                escape_markup(&update.current),
                escape_markup(&update.new),
                update.kind,
                escape_markup(&update.image)
            ),
            container_id: update.container_id.clone(),
            update_on: update.engine.clone().filter(|_| update.container_id.is_some()),
        })
        .collect()
}

/// `&`, `<`, `>`, quotes as entities: the notification spec's body markup is a subset of HTML.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// The updates of `report` the user has not been told about, marking them as told.
pub fn new_updates(store: &Store, report: &CheckReport, config: &Config) -> Result<Vec<NewUpdate>, StoreError> {
    let mut new_updates = Vec::new();
    for result in &report.containers {
        let Some(update) = result
            .update
            .as_ref()
            .filter(|_| result.status == Status::UpdateAvailable)
        else {
            continue;
        };
        if !config.notifications.notifies(update.kind) {
            continue;
        }
        let Some(key) = notified_key(result) else { continue };
        if store.mark_notified(&key)? {
            new_updates.push(NewUpdate {
                engine: result.engine.clone(),
                container_id: result.id.clone(),
                name: result.title().to_string(),
                image: result.image.clone(),
                current: result.current_version().unwrap_or_else(|| result.image.clone()),
                new: update.tag.clone().unwrap_or_else(|| match update.digest.as_deref() {
                    Some(digest) => format!("new digest {}", short_digest(digest).trim_start_matches("sha256:")),
                    None => "a new digest".to_string(),
                }),
                kind: update.kind,
            });
        }
    }
    Ok(new_updates)
}

/// The notification of an update the monitor applied by itself: what was applied, or what was
/// rolled back and why (escaped like every announcement).
pub fn outcome_notice(outcome: &UpdateOutcome) -> Announcement {
    let name = escape_markup(&outcome.container);
    let change = format!(
        "{} → {}",
        escape_markup(&outcome.image_before),
        escape_markup(&outcome.image_after)
    );
    let why = outcome
        .error
        .as_ref()
        .map(|e| escape_markup(&e.message))
        .unwrap_or_default();
    let (summary, body) = match (outcome.action, outcome.status) {
        (Action::Update, OutcomeStatus::Updated) => (format!("Updated {name}"), change),
        (Action::Rollback, OutcomeStatus::Updated) => (format!("Rolled back {name}"), change),
        (_, OutcomeStatus::Unchanged) => (format!("{name} was already up to date"), why),
        (_, OutcomeStatus::RolledBack) => (format!("The update of {name} was rolled back"), why),
        (_, OutcomeStatus::Refused) => (format!("{name} was not updated"), why),
        (_, OutcomeStatus::Failed) => (format!("The update of {name} failed; nothing changed"), why),
        (_, OutcomeStatus::Interrupted) => (format!("The update of {name} was interrupted"), why),
    };
    Announcement {
        summary,
        body,
        container_id: outcome
            .container_id_after
            .clone()
            .or(outcome.container_id_before.clone()),
        update_on: None,
    }
}

/// A version is notified once: a tag update keys on the image and the new tag; a digest update
/// of a floating tag on the image, the tag and the new digest. `None` without an upstream.
pub fn notified_key(result: &ContainerResult) -> Option<NotifiedKey> {
    let upstream = result.upstream.as_ref()?;
    let update = result.update.as_ref();
    let is_tag_update = update.is_some_and(|u| u.kind != UpdateKind::Digest && u.tag.is_some());
    Some(NotifiedKey {
        upstream: if is_tag_update {
            upstream.name()
        } else {
            upstream.to_string()
        },
        platform: result.platform.as_ref().map(ToString::to_string).unwrap_or_default(),
        tag: if is_tag_update {
            update.and_then(|u| u.tag.clone())
        } else {
            None
        },
        digest: if is_tag_update {
            None
        } else {
            update.and_then(|u| u.digest.clone())
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Update;

    fn result(upstream: &str, update: Update) -> ContainerResult {
        ContainerResult {
            kind: crate::checker::Kind::Container,
            engine: Some("local".into()),
            id: Some("abc".into()),
            name: Some("web".into()),
            stack: None,
            platforms: vec!["linux/amd64".parse().unwrap()],
            replicas: None,
            rollout: None,
            image: upstream.into(),
            upstream: Some(upstream.parse().unwrap()),
            via: None,
            platform: Some("linux/amd64".parse().unwrap()),
            local_digest: Some("sha256:aaa".into()),
            status: Status::UpdateAvailable,
            update: Some(update),
            explanation: String::new(),
            error: None,
            checked_at: std::time::SystemTime::UNIX_EPOCH,
            display_name: None,
            release_notes: None,
        }
    }

    #[test]
    fn a_tag_update_is_keyed_by_image_and_new_tag_so_it_is_notified_once() {
        let update = Update {
            kind: UpdateKind::Patch,
            tag: Some("1.25.4".into()),
            digest: Some("sha256:bbb".into()),
        };
        let key = notified_key(&result("docker.io/library/nginx:1.25.3", update)).unwrap();
        assert_eq!(key.upstream, "docker.io/library/nginx");
        assert_eq!(key.tag.as_deref(), Some("1.25.4"));
        assert_eq!(key.digest, None);
        assert_eq!(key.platform, "linux/amd64");
    }

    #[test]
    fn an_automatic_update_says_what_was_applied_or_why_it_was_rolled_back() {
        let mut outcome = UpdateOutcome::new("local", "web", Action::Update, "app:1.0", "app:1.1");
        outcome.status = OutcomeStatus::Updated;
        let notice = outcome_notice(&outcome);
        assert_eq!(notice.summary, "Updated web");
        assert_eq!(notice.body, "app:1.0 → app:1.1");
        assert_eq!(notice.update_on, None, "nothing left to update");
        let rolled_back = outcome.with_error(
            OutcomeStatus::RolledBack,
            crate::error::ErrorInfo::new("update_new_container_exited", "the new container exited with status 3"),
        );
        let notice = outcome_notice(&rolled_back);
        assert_eq!(notice.summary, "The update of web was rolled back");
        assert!(notice.body.contains("exited with status 3"), "{}", notice.body);
    }

    #[test]
    fn a_digest_update_is_keyed_by_tag_and_new_digest() {
        let update = Update {
            kind: UpdateKind::Digest,
            tag: None,
            digest: Some("sha256:ccc".into()),
        };
        let key = notified_key(&result("docker.io/library/nginx:latest", update)).unwrap();
        assert_eq!(key.upstream, "docker.io/library/nginx:latest");
        assert_eq!(key.digest.as_deref(), Some("sha256:ccc"));
    }

    #[test]
    fn notification_text_from_labels_and_tags_is_escaped_for_markup() {
        let update = NewUpdate {
            engine: Some("local".into()),
            container_id: Some("abc".into()),
            name: "<b>web</b> & <a href=\"https://evil.example\">click</a>".into(),
            image: "registry.example/app:1.0".into(),
            current: "1.0".into(),
            new: "1.1<img src=x>".into(),
            kind: UpdateKind::Minor,
        };
        let shown = announcements(std::slice::from_ref(&update));
        assert_eq!(shown.len(), 1);
        let text = format!("{} {}", shown[0].summary, shown[0].body);
        for raw in ["<b>", "<a ", "<img", " & "] {
            assert!(!text.contains(raw), "{raw} in {text}");
        }
        assert!(text.contains("&lt;b&gt;web&lt;/b&gt; &amp;"), "{text}");
        assert_eq!(shown[0].container_id.as_deref(), Some("abc"));
        assert_eq!(
            shown[0].update_on.as_deref(),
            Some("local"),
            "one new version offers Update"
        );
        let many = announcements(&vec![update; SUMMARY_THRESHOLD + 1]);
        assert_eq!(many.len(), 1);
        assert_eq!(many[0].update_on, None, "a summary has no one update to start");
        assert!(!many[0].body.contains("<b>"), "{}", many[0].body);
        assert_eq!(
            escape_markup("a\u{7}b\nc"),
            "ab\nc",
            "control characters dropped, lines kept"
        );
    }
}
