//! The settings file: every flag of every command can be set in one TOML file, under the
//! flag's long name with `_` for `-` (`--flush-secs` is `flush_secs`), at the top (for every
//! command that has the flag) or in a table named after the command (`[ingest]`,
//! `[cluster.executor]`). A flag on the command line wins, then its environment variable,
//! then the file, then the default. The file is `--config FILE` or `TRAILHOUSE_CONFIG`.
//!
//! ```toml
//! lake = "s3://security-lake/trailhouse"
//! region = "eu-west-1"
//! sigma_dirs = ["sigma"]          # relative paths are relative to this file
//!
//! [ingest]
//! queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"
//! flush_secs = 30
//! ```
//!
//! There is one table of settings, clap's own: the file's keys, the environment variables
//! and `--help` all come from the commands' argument definitions, and
//! `docs/configuration.md` is generated from them ([`reference`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flags that are not settings: the file's own, and clap's.
const NOT_SETTINGS: [&str; 4] = ["config", "help", "version", "verbose"];

/// `args` (the process's, program name first) with the settings file's values added as
/// flags, for clap to parse. Without a settings file, `args` unchanged. `root` must be
/// built (`clap::Command::build`), so that each flag knows whether it takes a value.
pub fn apply(args: Vec<OsString>, root: &clap::Command) -> Result<Vec<OsString>, String> {
    let Some(path) = config_path(&args) else { return Ok(args) };
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read the settings file {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("settings file {}: {e}", path.display()))?;
    let (chosen, at) = subcommand(&args, root);
    let mut found = Found { chosen: chosen.as_ref(), wanted: vec![], unknown: vec![] };
    for (key, value) in &table {
        // Rule settings and destinations are read by the commands that use them
        // (detections::tuning, route::config).
        if key == detections::tuning::TABLE || key == route::config::TABLE {
            continue;
        }
        match (value, root.find_subcommand(key)) {
            (toml::Value::Table(inner), Some(cmd)) => found.section(key, cmd, inner),
            _ => match chosen.as_ref().and_then(|c| setting(c.cmd, key)) {
                Some(arg) => found.wanted.push((arg, value, false)),
                None if any_command_has(root, key) => {}
                None => found.unknown.push(format!("{key} (no command has --{})", key.replace('_', "-"))),
            },
        }
    }
    if !found.unknown.is_empty() {
        return Err(format!(
            "settings file {}: unknown key{} {} (keys are flags' long names with _ for -: \
             `trailhouse <command> --help` lists them)",
            path.display(),
            if found.unknown.len() == 1 { "" } else { "s" },
            found.unknown.join(", ")
        ));
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut chosen_values: Vec<(&clap::Arg, &toml::Value, bool)> = vec![];
    for (arg, value, own) in found.wanted {
        match chosen_values.iter_mut().find(|(a, _, _)| a.get_id() == arg.get_id()) {
            Some(slot) if own || !slot.2 => *slot = (arg, value, own),
            Some(_) => {}
            None => chosen_values.push((arg, value, own)),
        }
    }
    let mut added: Vec<OsString> = vec![];
    for (arg, value, _) in chosen_values {
        let long = arg.get_long().unwrap_or_default();
        let given = args.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{long}") || a.starts_with(&format!("--{long}="))
        });
        let in_env = arg.get_env().is_some_and(|v| std::env::var_os(v).is_some());
        if given || in_env {
            continue;
        }
        added.extend(as_flags(arg, value, &base).map_err(|e| format!("settings file {}: {e}", path.display()))?);
    }
    let mut out = args;
    out.splice(at..at, added);
    Ok(out)
}

/// What a settings file holds for the command being run.
struct Found<'a> {
    chosen: Option<&'a Chosen<'a>>,
    /// Each flag's value, and whether it came from the command's own table (which wins
    /// over the top of the file).
    wanted: Vec<(&'a clap::Arg, &'a toml::Value, bool)>,
    unknown: Vec<String>,
}

impl<'a> Found<'a> {
    /// A `[command]` table (`path` is `ingest` or `cluster.executor`): its keys must be
    /// that command's flags; they apply when it is the one being run.
    fn section(&mut self, path: &str, cmd: &'a clap::Command, table: &'a toml::Table) {
        for (key, value) in table {
            if let (toml::Value::Table(inner), Some(deeper)) = (value, cmd.find_subcommand(key)) {
                self.section(&format!("{path}.{key}"), deeper, inner);
                continue;
            }
            match setting(cmd, key) {
                Some(arg) if self.chosen.is_some_and(|c| c.path == path) => self.wanted.push((arg, value, true)),
                Some(_) => {}
                None => self.unknown.push(format!("{key} in [{path}]")),
            }
        }
    }
}

/// The settings file this process was given, if any (for the tables that are not flags,
/// such as `[rule_settings]`).
pub fn config_file() -> Option<PathBuf> {
    config_path(&std::env::args_os().collect::<Vec<_>>())
}

/// The settings file named by `--config FILE`, `--config=FILE` or `TRAILHOUSE_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let text = a.to_string_lossy();
        if text == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("TRAILHOUSE_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The command being run.
struct Chosen<'a> {
    /// `ingest`, `cluster.executor`.
    path: String,
    cmd: &'a clap::Command,
}

/// The (deepest) subcommand named in `args`, and the index just after its name, where
/// flags for it may be inserted.
fn subcommand<'a>(args: &[OsString], root: &'a clap::Command) -> (Option<Chosen<'a>>, usize) {
    let mut cmd = root;
    let mut path: Vec<String> = vec![];
    let mut at = args.len();
    let mut skip_value = false;
    for (i, a) in args.iter().enumerate().skip(1) {
        let text = a.to_string_lossy();
        if skip_value {
            skip_value = false;
            continue;
        }
        if text == "--config" {
            skip_value = true;
            continue;
        }
        if text.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(text.as_ref()) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cmd = sub;
                at = i + 1;
            }
            None => break,
        }
    }
    if path.is_empty() {
        return (None, at);
    }
    (Some(Chosen { path: path.join("."), cmd }), at)
}

/// The flag a key names in `cmd`.
fn setting<'a>(cmd: &'a clap::Command, key: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long().is_some_and(|l| l.replace('-', "_") == key && !NOT_SETTINGS.contains(&key)) && !a.is_positional()
    })
}

fn any_command_has(root: &clap::Command, key: &str) -> bool {
    root.get_subcommands()
        .flat_map(|s| std::iter::once(s).chain(s.get_subcommands()))
        .any(|c| setting(c, key).is_some())
}

/// A setting as command-line flags: `--flag value`, `--flag` for true, nothing for false,
/// the flag once per item of a list. Relative paths are relative to the settings file.
fn as_flags(arg: &clap::Arg, value: &toml::Value, base: &Path) -> Result<Vec<OsString>, String> {
    let long = format!("--{}", arg.get_long().unwrap_or_default());
    let key = arg.get_long().unwrap_or_default().replace('-', "_");
    let takes_value = arg.get_action().takes_values();
    let is_path =
        matches!(arg.get_value_hint(), clap::ValueHint::AnyPath | clap::ValueHint::DirPath | clap::ValueHint::FilePath);
    let text = |v: &toml::Value| -> Result<String, String> {
        Ok(match v {
            // `fetch` (aws_ip_ranges) and `organizations` (accounts) are words, not files.
            toml::Value::String(s)
                if is_path
                    && !s.contains("://")
                    && !matches!(s.as_str(), "fetch" | "organizations")
                    && Path::new(s).is_relative() =>
            {
                base.join(s).display().to_string()
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("{key}: a {} is not a value for {long}", other.type_str())),
        })
    };
    match value {
        toml::Value::Boolean(b) if !takes_value => Ok(if *b { vec![OsString::from(&long)] } else { vec![] }),
        toml::Value::Array(items) => {
            let mut out = vec![];
            for v in items {
                out.push(OsString::from(&long));
                out.push(text(v)?.into());
            }
            Ok(out)
        }
        _ if !takes_value => Err(format!("{key}: {long} is a switch: write {key} = true")),
        v => Ok(vec![OsString::from(&long), text(v)?.into()]),
    }
}

/// Every command's settings as a Markdown table (docs/configuration.md is this, generated
/// by its test): command, flag, environment variable, settings key, default, and the help's
/// first line.
#[cfg(test)]
pub fn reference(root: &clap::Command) -> String {
    let mut out =
        String::from("| command | flag | environment | settings key | default | what |\n|---|---|---|---|---|---|\n");
    let mut commands: Vec<(String, &clap::Command)> = vec![];
    for sub in root.get_subcommands() {
        commands.push((sub.get_name().to_string(), sub));
        for deeper in sub.get_subcommands() {
            commands.push((format!("{} {}", sub.get_name(), deeper.get_name()), deeper));
        }
    }
    for (name, cmd) in commands {
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.is_positional() || NOT_SETTINGS.contains(&long) || arg.is_hide_set() {
                continue;
            }
            let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_default();
            let default: Vec<String> =
                arg.get_default_values().iter().map(|d| d.to_string_lossy().to_string()).collect();
            let default = if default.is_empty() { String::new() } else { format!("`{}`", default.join(",")) };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let first = first_sentence(&help).replace('|', "\\|");
            out.push_str(&format!(
                "| {name} | `--{long}` | {env} | `{}` | {default} | {first} |\n",
                long.replace('-', "_")
            ));
        }
    }
    out
}

/// The help's first sentence (a period, then a capital), without its period.
#[cfg(test)]
fn first_sentence(help: &str) -> String {
    let bytes: Vec<char> = help.chars().collect();
    let end = (0..bytes.len().saturating_sub(2))
        .find(|&i| bytes[i] == '.' && bytes[i + 1] == ' ' && bytes[i + 2].is_uppercase())
        .unwrap_or(bytes.len());
    bytes[..end].iter().collect::<String>().trim_end_matches('.').to_string()
}

/// Flags that have no environment variable (each should have one).
#[cfg(test)]
pub fn flags_without_env(root: &clap::Command) -> Vec<String> {
    let mut out = vec![];
    for sub in root.get_subcommands() {
        for cmd in std::iter::once(sub).chain(sub.get_subcommands()) {
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if !arg.is_positional() && !NOT_SETTINGS.contains(&long) && arg.get_env().is_none() {
                    out.push(format!("{} --{long}", cmd.get_name()));
                }
            }
        }
    }
    out
}

/// `root` with an environment variable for every flag that does not name its own:
/// `TRAILHOUSE_<COMMAND>_<FLAG>` (`TRAILHOUSE_EXPORT_SINCE`, `TRAILHOUSE_CLUSTER_EXECUTOR_BIND`).
/// Flags shared by several commands (the lake, AWS, tuning) name theirs (`TRAILHOUSE_LAKE`).
pub fn with_env(root: clap::Command) -> clap::Command {
    root.mut_subcommands(|sub| {
        let name = sub.get_name().to_string();
        let sub = sub.mut_subcommands(|deeper| {
            let path = format!("{name}_{}", deeper.get_name());
            env_for_flags(deeper, &path)
        });
        env_for_flags(sub, &name)
    })
}

fn env_for_flags(cmd: clap::Command, name: &str) -> clap::Command {
    let prefix = format!("TRAILHOUSE_{}_", name.to_uppercase().replace('-', "_"));
    cmd.mut_args(|a| {
        let Some(long) = a.get_long() else { return a };
        if a.get_env().is_some() || a.is_positional() || NOT_SETTINGS.contains(&long) {
            return a;
        }
        let var = format!("{prefix}{}", long.to_uppercase().replace('-', "_"));
        // Built once per process, at start.
        let var: &'static str = Box::leak(var.into_boxed_str());
        a.env(var)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> clap::Command {
        let mut root = with_env(<crate::Cli as clap::CommandFactory>::command());
        root.build();
        root
    }

    fn with_file(text: &str, list: &[&str]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("trailhouse.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let mut full = vec!["trailhouse".to_string(), "--config".to_string(), path.display().to_string()];
        full.extend(list.iter().map(|s| s.to_string()));
        let out = apply(full.iter().map(OsString::from).collect(), &root())?;
        Ok(out.into_iter().map(|a| a.to_string_lossy().replace(&dir.path().display().to_string(), "DIR")).collect())
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        assert_eq!(flags_without_env(&root()), Vec::<String>::new());
    }

    /// docs/configuration.md is generated: `TRAILHOUSE_BLESS=1 cargo test -p trailhouse settings`
    /// writes it anew after a flag changes.
    #[test]
    fn the_configuration_reference_is_generated_from_the_flags() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let marker = "<!-- generated: the table below is `settings::reference`; do not edit by hand -->\n";
        let head = text.split(marker).next().unwrap_or_default().to_string();
        let want = format!("{head}{marker}{}", reference(&root()));
        if std::env::var_os("TRAILHOUSE_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        assert!(
            text == want,
            "docs/configuration.md is stale: run TRAILHOUSE_BLESS=1 cargo test -p trailhouse settings"
        );
    }

    #[test]
    fn the_file_gives_flags_that_the_command_line_and_environment_do_not() {
        let file = "lake = \"L\"\nsigma_dirs = [\"sigma\", \"/abs\"]\nflush_secs = 10\n[ingest]\nflush_secs = 30\nonce = true\n[export]\nsince = \"7d\"\n";
        let out = with_file(file, &["ingest", "--flush-secs", "5"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.windows(2).any(|w| w == ["--lake", "DIR/L"]), "relative to the file: {out:?}");
        assert!(out.contains(&"--once".to_string()), "{out:?}");
        assert!(!out.contains(&"30".to_string()), "the command line wins: {out:?}");
        assert!(!out.contains(&"--since".to_string()), "[export] is not ingest's: {out:?}");
        let out = with_file(file, &["ingest", "--once"]).unwrap_or_else(|e| panic!("{e}"));
        let flush: Vec<&String> = out.iter().filter(|a| *a == "--flush-secs").collect();
        assert_eq!(flush.len(), 1, "once, [ingest]'s value winning over the top's: {out:?}");
        assert!(out.windows(2).any(|w| w == ["--flush-secs", "30"]), "{out:?}");
        let out = with_file(file, &["detect"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.windows(2).any(|w| w == ["--sigma-dirs", "DIR/sigma"]), "{out:?}");
        assert!(out.windows(2).any(|w| w == ["--sigma-dirs", "/abs"]), "{out:?}");
    }

    #[test]
    fn an_unknown_key_is_named_with_the_file() {
        let e = with_file("flush_sec = 3\n[ingest]\nlanez = 2\n", &["ingest"]).unwrap_err();
        assert!(e.contains("trailhouse.toml") && e.contains("flush_sec") && e.contains("lanez in [ingest]"), "{e}");
        assert!(!e.contains("rule"), "{e}");
        let e = with_file("[ingest]\nonce = 3\n", &["ingest"]).unwrap_err();
        assert!(e.contains("once = true"), "{e}");
    }
}
