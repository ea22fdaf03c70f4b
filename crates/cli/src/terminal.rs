//! The terminal policy, decided once for every subcommand: whether standard output gets colours
//! (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`, a non-terminal stdout, `TERM=dumb`) and whether
//! standard error may draw a progress display.

use std::io::IsTerminal as _;

use clap::ValueEnum;

/// `--color`: as with git, ls, gh and docker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colours when standard output is a terminal, unless NO_COLOR is set or TERM=dumb;
    /// CLICOLOR_FORCE forces them even when piped
    #[default]
    Auto,
    /// Always colour, even when piped
    Always,
    /// Never colour
    Never,
}

/// What the environment says, read once (kept apart so the rules can be tested without a terminal).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub no_color: bool,
    pub clicolor_force: bool,
    pub dumb: bool,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
}

impl Environment {
    pub fn read() -> Environment {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        Environment {
            // no-color.org: present and not empty.
            no_color: set("NO_COLOR"),
            // bixense.com/clicolors: set and not "0".
            clicolor_force: std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0"),
            dumb: std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
            stdout_terminal: std::io::stdout().is_terminal(),
            stderr_terminal: std::io::stderr().is_terminal(),
        }
    }
}

/// How this run writes to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// Colours on standard output.
    pub color: bool,
    /// A progress display may be drawn on standard error (a terminal that understands it).
    pub progress: bool,
}

impl Terminal {
    pub fn new(choice: ColorChoice, env: &Environment) -> Terminal {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // The user's NO_COLOR beats a program's CLICOLOR_FORCE; a dumb terminal has no colours.
            ColorChoice::Auto => !env.no_color && (env.clicolor_force || (env.stdout_terminal && !env.dumb)),
        };
        Terminal {
            color,
            progress: env.stderr_terminal && !env.dumb,
        }
    }

    /// `text` in the SGR style `code` (`1` bold, `31` red, …) when colours are on.
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(stdout_terminal: bool) -> Environment {
        Environment {
            stdout_terminal,
            stderr_terminal: stdout_terminal,
            ..Environment::default()
        }
    }

    #[test]
    fn auto_colours_a_terminal_and_not_a_pipe() {
        assert!(Terminal::new(ColorChoice::Auto, &env(true)).color);
        assert!(!Terminal::new(ColorChoice::Auto, &env(false)).color);
    }

    #[test]
    fn no_color_wins_over_clicolor_force_in_auto_but_not_over_always() {
        let mut e = env(true);
        e.no_color = true;
        e.clicolor_force = true;
        assert!(!Terminal::new(ColorChoice::Auto, &e).color);
        assert!(Terminal::new(ColorChoice::Always, &e).color);
    }

    #[test]
    fn clicolor_force_colours_a_pipe() {
        let mut e = env(false);
        e.clicolor_force = true;
        assert!(Terminal::new(ColorChoice::Auto, &e).color);
        assert!(!Terminal::new(ColorChoice::Never, &e).color);
    }

    #[test]
    fn a_dumb_terminal_gets_neither_colours_nor_progress() {
        let mut e = env(true);
        e.dumb = true;
        let terminal = Terminal::new(ColorChoice::Auto, &e);
        assert!(!terminal.color && !terminal.progress);
    }
}
