//! Finding and rewriting one service's `image:` line in a compose file, leaving every other byte
//! (comments, quoting, indentation, line endings) as it was.
//!
//! Hand-written on purpose: the YAML crates (serde_yaml, now unmaintained, serde_yml, saphyr,
//! yaml-rust2) parse into a data model and write it back out, losing comments, quoting and layout;
//! none edits a document in place. One value on one line is a small, checkable edit, so this
//! reads just enough structure (top-level `services:`, the service's key, its `image:` key, in
//! block style) and refuses anything it cannot be sure of: flow style, anchors, block scalars,
//! variables, duplicate keys.

/// Where a service's image is written: the line and the byte range of the value in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLine {
    /// 0-based line number.
    pub line: usize,
    /// The value as written, without quotes.
    pub value: String,
    start: usize,
    end: usize,
}

/// Finds `services.<service>.image` in `text`. `Ok(None)`: the file does not set it (another
/// compose file may); `Err`: it does, or may, but not in a form this can edit safely.
pub fn find_image_line(text: &str, service: &str) -> Result<Option<ImageLine>, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(services_at) = lines.iter().position(|line| key_of(line) == Some((0, "services"))) else {
        return Ok(None);
    };
    if !rest_after_key(lines[services_at]).is_empty() {
        return Err("`services:` is not written in block style".into());
    }
    let Some((service_at, service_indent)) = find_child(&lines, services_at, 0, service)? else {
        return Ok(None);
    };
    if !rest_after_key(lines[service_at]).is_empty() {
        return Err(format!("the service {service} is not written in block style"));
    }
    let image = find_child(&lines, service_at, service_indent, "image")?;
    let Some((image_at, _)) = image else {
        if block_has_key(&lines, service_at, service_indent, "<<") {
            return Err(format!("the service {service} takes keys from a YAML merge (`<<:`)"));
        }
        return Ok(None);
    };
    parse_value(lines[image_at]).map(|(value, start, end)| {
        Some(ImageLine {
            line: image_at,
            value,
            start,
            end,
        })
    })
}

/// `text` with the service's image changed from `expected` to `new`; every other byte unchanged.
pub fn replace_image(text: &str, service: &str, expected: &str, new: &str) -> Result<String, String> {
    let found = find_image_line(text, service)?.ok_or_else(|| format!("the service {service} sets no image here"))?;
    if found.value != expected {
        return Err(format!(
            "the service {service}'s image is {:?} in the file, not {expected:?} as the container was created",
            found.value
        ));
    }
    if new.contains(['\n', '\r', '#', '\'', '"']) || new.trim() != new || new.is_empty() {
        return Err(format!("{new:?} is not a plain image reference"));
    }
    let mut out = String::with_capacity(text.len() + new.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if index == found.line {
            out.push_str(&line[..found.start]);
            out.push_str(new);
            out.push_str(&line[found.end..]);
        } else {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// The indentation and key of a `key:` line (`None` for blanks, comments, list items and values).
fn key_of(line: &str) -> Option<(usize, &str)> {
    let content = line.trim_end_matches(['\n', '\r']);
    let indent = content.len() - content.trim_start_matches(' ').len();
    let rest = &content[indent..];
    if rest.is_empty() || rest.starts_with('#') || rest.starts_with('-') {
        return None;
    }
    let (key, after) = split_key(rest)?;
    (after.is_empty() || after.starts_with([' ', '#'])).then_some((indent, key))
}

/// A mapping key at the start of `rest` (plain, or quoted) and what follows its colon.
fn split_key(rest: &str) -> Option<(&str, &str)> {
    for quote in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(quote) {
            let close = inner.find(quote)?;
            let after = inner[close + 1..].strip_prefix(':')?;
            return Some((&inner[..close], after));
        }
    }
    let colon = rest.find(": ").or_else(|| rest.strip_suffix(':').map(|k| k.len()))?;
    let key = rest[..colon].trim_end();
    (!key.is_empty() && !key.contains(' ')).then(|| (key, &rest[colon + 1..]))
}

/// What follows a key line's colon, without a comment: empty when the value is a block below.
fn rest_after_key(line: &str) -> &str {
    let content = line.trim_end_matches(['\n', '\r']);
    let Some((_, after)) = split_key(content.trim_start_matches(' ')) else {
        return content;
    };
    let after = after.trim_start();
    if after.starts_with('#') {
        ""
    } else {
        after.trim_end()
    }
}

/// The line of `key` among the direct children of the block that starts below `parent`
/// (indented deeper than `parent_indent`), with the children's indentation. A key written twice is
/// an error: which one counts would be a guess.
fn find_child(
    lines: &[&str],
    parent: usize,
    parent_indent: usize,
    key: &str,
) -> Result<Option<(usize, usize)>, String> {
    let mut child_indent = None;
    let mut found = None;
    for (index, line) in lines.iter().enumerate().skip(parent + 1) {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if content.starts_with('\t') {
            return Err(format!("line {} is indented with a tab", index + 1));
        }
        let indent = content.len() - trimmed.len();
        if indent <= parent_indent {
            break;
        }
        let expected = *child_indent.get_or_insert(indent);
        if indent != expected {
            continue;
        }
        if let Some((_, name)) = key_of(line) {
            if name == key {
                if found.is_some() {
                    return Err(format!("the key {key} appears twice"));
                }
                found = Some((index, indent));
            }
        }
    }
    Ok(found)
}

fn block_has_key(lines: &[&str], parent: usize, parent_indent: usize, key: &str) -> bool {
    matches!(find_child(lines, parent, parent_indent, key), Ok(Some(_)) | Err(_))
}

/// The value of an `image:` line: (value, start, end) with the byte range inside the quotes.
fn parse_value(line: &str) -> Result<(String, usize, usize), String> {
    let content = line.trim_end_matches(['\n', '\r']);
    let colon = content.find(':').ok_or("no colon on the image line")?;
    let after = &content[colon + 1..];
    let start = colon + 1 + (after.len() - after.trim_start().len());
    let rest = &content[start..];
    let refuse = |what: &str| Err(format!("the image is written as {what}, which is not edited in place"));
    match rest.chars().next() {
        None | Some('#') => return refuse("a value on another line"),
        Some('|' | '>') => return refuse("a block scalar"),
        Some('&' | '*') => return refuse("a YAML anchor or alias"),
        Some('{' | '[') => return refuse("flow style"),
        _ => {}
    }
    let (value, start, end) = if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &rest[1..];
        let close = inner.find(quote).ok_or("an unterminated quote")?;
        let value = &inner[..close];
        if value.contains('\\') {
            return refuse("an escaped string");
        }
        (value.to_string(), start + 1, start + 1 + close)
    } else {
        let end = rest.find(" #").unwrap_or(rest.len());
        let value = rest[..end].trim_end();
        (value.to_string(), start, start + value.len())
    };
    if value.contains('$') {
        return Err(format!(
            "the image {value:?} uses a variable; change the variable (e.g. in the project's .env) instead"
        ));
    }
    Ok((value, start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# the lab's stack\r\nservices:\r\n  db:\r\n    image: postgres:16.1\r\n  web:   # the front\r\n    \
                        labels:\r\n      image: not-this\r\n    image: \"registry.lan/web:1.0.0\"   # pinned by hand\r\n    \
                        ports: [\"80:80\"]\r\nvolumes:\r\n  data: {}\r\n";

    #[test]
    fn only_the_services_image_value_changes() {
        let found = find_image_line(FILE, "web").unwrap().unwrap();
        assert_eq!(found.value, "registry.lan/web:1.0.0");
        assert_eq!(found.line, 7);
        let edited = replace_image(FILE, "web", "registry.lan/web:1.0.0", "registry.lan/web:1.1.0").unwrap();
        assert_eq!(
            edited,
            FILE.replace("\"registry.lan/web:1.0.0\"", "\"registry.lan/web:1.1.0\"")
        );
        let db = replace_image(FILE, "db", "postgres:16.1", "postgres:16.2").unwrap();
        assert_eq!(db, FILE.replace("postgres:16.1", "postgres:16.2"));
    }

    #[test]
    fn plain_values_keep_their_comment_and_spacing() {
        let text = "services:\n  app:\n    image: app:1   # keep me\n";
        let edited = replace_image(text, "app", "app:1", "app:2").unwrap();
        assert_eq!(edited, "services:\n  app:\n    image: app:2   # keep me\n");
    }

    #[test]
    fn a_file_that_does_not_set_the_image_says_so() {
        assert_eq!(
            find_image_line("services:\n  web:\n    ports: []\n", "web").unwrap(),
            None
        );
        assert_eq!(
            find_image_line("services:\n  other:\n    image: x\n", "web").unwrap(),
            None
        );
        assert_eq!(find_image_line("version: '3'\n", "web").unwrap(), None);
    }

    #[test]
    fn forms_that_cannot_be_edited_safely_are_refused() {
        let cases = [
            ("services:\n  web:\n    image: app:${TAG}\n", "variable"),
            ("services:\n  web:\n    image: &img app:1\n", "anchor"),
            ("services:\n  web:\n    image:\n      app:1\n", "another line"),
            ("services: {web: {image: app:1}}\n", "block style"),
            ("services:\n  web: {image: app:1}\n", "block style"),
            ("services:\n  web:\n    image: app:1\n    image: app:2\n", "twice"),
            ("services:\n  web:\n    <<: *defaults\n", "merge"),
        ];
        for (text, expected) in cases {
            let error = find_image_line(text, "web").unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn an_image_that_differs_from_the_containers_is_not_touched() {
        let error = replace_image("services:\n  web:\n    image: app:1\n", "web", "app:0", "app:2").unwrap_err();
        assert!(error.contains("not \"app:0\""), "{error}");
    }
}
