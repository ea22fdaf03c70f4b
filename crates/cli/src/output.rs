//! Human output of a check: a table (coloured as the terminal policy says) and a summary line.

use tidewatch_core::checker::CheckReport;
use tidewatch_core::checker::{short_digest as short, ContainerResult, Status};

use crate::terminal::Terminal;

fn status_label(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::UpToDate => ("up to date", "32"),
        Status::UpdateAvailable => ("update", "1;33"),
        Status::Pinned => ("pinned", "2"),
        Status::LocalOnly => ("local only", "2"),
        Status::Unknown => ("unknown", "31"),
    }
}

fn details(result: &ContainerResult) -> String {
    if let Some(update) = &result.update {
        return match (&update.tag, &update.digest) {
            (Some(tag), Some(digest)) => format!("{tag} ({}) {}", update.kind.as_str(), short(digest)),
            (Some(tag), None) => format!("{tag} ({})", update.kind.as_str()),
            (None, Some(digest)) => format!("{} ({})", short(digest), update.kind.as_str()),
            (None, None) => update.kind.as_str().to_string(),
        };
    }
    if let Some(error) = &result.error {
        return error.message.clone();
    }
    String::new()
}

/// An image reference with its digest shortened (`name:tag@sha256:0123456789ab`); the JSON
/// document has it whole.
fn short_image(image: &str) -> String {
    match image.rsplit_once('@') {
        Some((name, digest)) => format!("{name}@{}", short(digest)),
        None => image.to_string(),
    }
}

/// Prints the table (with `verbose`, each result's explanation under it), then the summary line.
pub fn print_report(report: &CheckReport, style: Terminal, verbose: bool) {
    let headers = ["NAME", "KIND", "IMAGE", "STATUS", "UPDATE / REASON"];
    const STATUS_COLUMN: usize = 3;
    let rows: Vec<[String; 5]> = report
        .containers
        .iter()
        .map(|r| {
            let name = match (&r.engine, &r.name) {
                (Some(engine), Some(name)) if report.engines.len() > 1 => format!("{engine}/{name}"),
                (_, Some(name)) => name.clone(),
                _ => "-".to_string(),
            };
            [
                name,
                r.kind.as_str().to_string(),
                short_image(&r.image),
                status_label(r.status).0.to_string(),
                details(r),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    if rows.is_empty() {
        println!("No containers or services to check.");
    } else {
        let header: Vec<String> = headers.iter().zip(widths).map(|(h, w)| format!("{h:<w$}")).collect();
        println!("{}", style.paint("1", header.join("  ").trim_end()));
        for (row, result) in rows.iter().zip(&report.containers) {
            let (_, color) = status_label(result.status);
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    let padded = format!("{cell:<w$}");
                    if i == STATUS_COLUMN {
                        style.paint(color, &padded)
                    } else {
                        padded
                    }
                })
                .collect();
            println!("{}", cells.join("  ").trim_end());
            if verbose && !result.explanation.is_empty() {
                println!("{}", style.paint("2", &format!("  ↳ {}", result.explanation)));
            }
        }
    }
    let s = &report.summary;
    let updates = format!("{} update{}", s.updates, if s.updates == 1 { "" } else { "s" });
    let errors = format!("{} unknown", s.errors);
    println!();
    println!(
        "{} checked ({} image{} asked): {}, {} — {} registry request{} in {} ms",
        s.containers,
        s.images,
        if s.images == 1 { "" } else { "s" },
        if s.updates > 0 {
            style.paint("1;33", &updates)
        } else {
            updates
        },
        if s.errors > 0 {
            style.paint("31", &errors)
        } else {
            errors
        },
        s.requests,
        if s.requests == 1 { "" } else { "s" },
        s.duration_ms
    );
}
