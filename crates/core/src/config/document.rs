//! Saving a configuration into the user's own TOML document: only what changed between two typed
//! configurations is edited; comments, order and formatting of everything else are kept.
//!
//! Generic over the configuration's shape: both configurations are rendered by the same serde
//! serializer, the differences between the two renderings are found key by key, and only those
//! are applied to the user's document (docs/config.md#reading-and-writing). A key added to
//! `Config` later is saved the same way without code here.

use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

/// `user` (the file's text, which must parse as TOML) with the changes from `before` to `after`
/// applied. `before` is what `user` means; keys whose value did not change keep their text.
pub fn edit<T: Serialize>(user: &str, before: &T, after: &T) -> Result<String, String> {
    let mut document: DocumentMut = user.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let before = render(before)?;
    let after = render(after)?;
    let keys: Vec<String> = document.as_table().iter().map(|(key, _)| key.to_string()).collect();
    // Comments after the last table belong to the end of the file, not to what is appended.
    let trailing = document.trailing().as_str().unwrap_or_default().to_string();
    apply_table(document.as_table_mut(), before.as_table(), after.as_table());
    if !trailing.trim().is_empty() {
        let appended = document
            .as_table_mut()
            .iter_mut()
            .find(|(key, _)| !keys.iter().any(|k| k == key.get()))
            .map(|(_, item)| item);
        let first = match appended {
            Some(Item::Table(table)) => Some(table),
            Some(Item::ArrayOfTables(tables)) => tables.get_mut(0),
            _ => None,
        };
        if let Some(table) = first {
            let prefix = table.decor().prefix().and_then(|p| p.as_str()).unwrap_or_default();
            let prefix = format!("{trailing}{prefix}");
            table.decor_mut().set_prefix(prefix);
            document.set_trailing("");
        }
    }
    Ok(document.to_string())
}

/// The document serde writes for `value`, as a freshly formatted file would hold it.
pub fn render<T: Serialize>(value: &T) -> Result<DocumentMut, String> {
    let text = toml::to_string(value).map_err(|e| e.to_string())?;
    text.parse().map_err(|e: toml_edit::TomlError| e.to_string())
}

/// Applies `before` → `after` to `user`, a table or an inline table.
fn apply_table(user: &mut dyn TableLike, before: &dyn TableLike, after: &dyn TableLike) {
    let removed: Vec<String> = before
        .iter()
        .filter(|(key, _)| !after.contains_key(key))
        .map(|(key, _)| key.to_string())
        .collect();
    for key in removed {
        user.remove(&key);
    }
    for (key, new) in after.iter() {
        match before.get(key) {
            Some(old) if same(old, new) => {}
            Some(old) => match user.get_mut(key) {
                Some(mine) => apply_item(mine, old, new),
                None => {
                    user.insert(key, fresh(new));
                }
            },
            None => match user.get_mut(key) {
                // A key serde leaves out at its default but the user wrote out: replace its value.
                Some(mine) => replace(mine, new),
                None => {
                    user.insert(key, fresh(new));
                }
            },
        }
    }
}

fn apply_item(user: &mut Item, before: &Item, after: &Item) {
    if let (Some(before_tables), Some(after_tables)) = (before.as_array_of_tables(), after.as_array_of_tables()) {
        if let Some(mine) = user.as_array_of_tables_mut() {
            apply_array_of_tables(mine, before_tables, after_tables);
            return;
        }
    }
    if let (Some(before_table), Some(after_table)) = (before.as_table_like(), after.as_table_like()) {
        if let Some(mine) = user.as_table_like_mut() {
            apply_table(mine, before_table, after_table);
            return;
        }
    }
    replace(user, after);
}

/// Lists of tables (`[[engines]]`, …): entries that did not change keep their text (comments
/// included) even when others are added, removed or moved; a changed entry is edited in place.
fn apply_array_of_tables(user: &mut ArrayOfTables, before: &ArrayOfTables, after: &ArrayOfTables) {
    let before: Vec<&Table> = before.iter().collect();
    let after: Vec<&Table> = after.iter().collect();
    let mut mine: Vec<Option<Table>> = user.iter().cloned().map(Some).collect();
    if mine.len() != before.len() {
        // The document does not line up with what it means; fall back to the new list.
        *user = after.iter().map(|t| (*t).clone()).collect();
        return;
    }
    let mut used = vec![false; before.len()];
    // Entries that are unchanged, in order.
    let mut kept: Vec<Option<usize>> = vec![None; after.len()];
    for (j, new) in after.iter().enumerate() {
        if let Some(i) = (0..before.len()).find(|&i| !used[i] && same_table(before[i], new)) {
            used[i] = true;
            kept[j] = Some(i);
        }
    }
    // The others are edits of the remaining old entries, in order; beyond those, new entries.
    let mut leftovers = (0..before.len()).filter(|&i| !used[i]).collect::<Vec<_>>().into_iter();
    let mut result = ArrayOfTables::new();
    for (j, new) in after.iter().enumerate() {
        let table = match kept[j] {
            Some(i) => mine[i].take().unwrap_or_else(|| (*new).clone()),
            None => match leftovers.next() {
                Some(i) => {
                    let mut table = mine[i].take().unwrap_or_default();
                    apply_table(&mut table, before[i], *new);
                    table
                }
                None => fresh_table(new),
            },
        };
        result.push(table);
    }
    *user = result;
}

/// Replaces `user`'s value with `new`'s, keeping the comment and spacing around it.
fn replace(user: &mut Item, new: &Item) {
    match (user.as_value_mut(), new.as_value()) {
        (Some(mine), Some(value)) => {
            let decor = mine.decor().clone();
            let mut value = value.clone();
            *value.decor_mut() = decor;
            *mine = value;
        }
        _ => *user = fresh(new),
    }
}

/// An item from the rendering, to be inserted where the user had nothing.
fn fresh(item: &Item) -> Item {
    match item {
        Item::Table(table) => Item::Table(fresh_table(table)),
        Item::Value(value) => {
            let mut value = value.clone();
            value.decor_mut().clear();
            Item::Value(value)
        }
        other => other.clone(),
    }
}

fn fresh_table(table: &Table) -> Table {
    let mut table = table.clone();
    // Placed after what the user has, not at the position it had in the rendering.
    table.set_position(None);
    table
}

/// Whether two rendered items mean the same (serde wrote both, so text would do, but meaning is
/// what counts).
fn same(a: &Item, b: &Item) -> bool {
    match (a.as_array_of_tables(), b.as_array_of_tables()) {
        (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same_table(a, b)),
        _ => match (a.as_table_like(), b.as_table_like()) {
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(key, item)| b.get(key).is_some_and(|other| same(item, other)))
            }
            _ => match (a.as_value(), b.as_value()) {
                (Some(a), Some(b)) => same_value(a, b),
                _ => false,
            },
        },
    }
}

fn same_table(a: &Table, b: &Table) -> bool {
    same(&Item::Table(a.clone()), &Item::Table(b.clone()))
}

fn same_value(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| {
        let mut v = v.clone();
        v.decor_mut().clear();
        format!("v = {v}").parse::<toml::Table>().ok()
    };
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Doc {
        #[serde(default)]
        top: Option<String>,
        #[serde(default)]
        section: Section,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        items: Vec<Entry>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Section {
        #[serde(default)]
        a: i64,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        flag: bool,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Entry {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    }

    fn round(text: &str, change: impl FnOnce(&mut Doc)) -> String {
        let before: Doc = toml::from_str(text).unwrap();
        let mut after = before.clone();
        change(&mut after);
        let edited = edit(text, &before, &after).unwrap();
        let back: Doc = toml::from_str(&edited).unwrap_or_else(|e| panic!("{e}\n{edited}"));
        assert_eq!(back, after, "{edited}");
        edited
    }

    const FILE: &str = r#"# my settings
top = "x"   # why x

[section]
# the answer
a = 42
list = [ "one",   "two" ]  # spaced on purpose

# first entry
[[items]]
name = "a"  # primary
host = "h1"

# second entry
[[items]]
name = "b"
"#;

    #[test]
    fn nothing_changed_is_byte_for_byte_the_same() {
        assert_eq!(round(FILE, |_| {}), FILE);
    }

    #[test]
    fn a_changed_value_keeps_its_comments_and_every_other_line() {
        let edited = round(FILE, |d| d.section.a = 7);
        assert_eq!(edited, FILE.replace("a = 42", "a = 7"));
    }

    #[test]
    fn a_changed_list_keeps_the_comment_after_it() {
        let edited = round(FILE, |d| d.section.list.push("three".into()));
        assert!(edited.contains("# spaced on purpose"), "{edited}");
        assert!(edited.contains("# the answer\na = 42"), "{edited}");
    }

    #[test]
    fn removing_the_first_entry_keeps_the_second_with_its_comment() {
        let edited = round(FILE, |d| {
            d.items.remove(0);
        });
        assert!(!edited.contains("name = \"a\""), "{edited}");
        assert!(edited.contains("# second entry\n[[items]]\nname = \"b\""), "{edited}");
        assert!(edited.starts_with("# my settings\ntop = \"x\"   # why x\n"), "{edited}");
    }

    #[test]
    fn an_edited_entry_keeps_its_comments_and_a_new_one_is_appended() {
        let edited = round(FILE, |d| {
            d.items[0].host = Some("h2".into());
            d.items.push(Entry {
                name: "c".into(),
                host: None,
            });
        });
        assert!(
            edited.contains("# first entry\n[[items]]\nname = \"a\"  # primary\nhost = \"h2\""),
            "{edited}"
        );
        assert!(edited.trim_end().ends_with("[[items]]\nname = \"c\""), "{edited}");
    }

    #[test]
    fn a_key_left_out_at_its_default_is_removed_when_cleared() {
        let edited = round(FILE, |d| d.items[0].host = None);
        assert!(!edited.contains("h1"), "{edited}");
        assert!(edited.contains("name = \"a\"  # primary"), "{edited}");
    }

    #[test]
    fn a_default_the_user_wrote_out_is_edited_in_place() {
        let text = "[section]\nflag = false # off for now\n";
        let edited = round(text, |d| d.section.flag = true);
        assert_eq!(edited, "[section]\nflag = true # off for now\n");
    }

    #[test]
    fn a_missing_table_is_added_after_the_user_text() {
        let text = "# only a comment\n";
        let edited = round(text, |d| {
            d.items.push(Entry {
                name: "n".into(),
                host: None,
            })
        });
        assert!(edited.starts_with("# only a comment\n"), "{edited}");
    }

    #[test]
    fn an_inline_table_stays_inline() {
        let text = "section = { a = 1, list = [] }\n";
        let edited = round(text, |d| d.section.a = 2);
        assert_eq!(edited, "section = { a = 2, list = [] }\n");
    }
}
