//! The process's exit statuses, in one place: what each means to a script or cron job.
//! `trailhouse --help` prints [`HELP`].

use std::process::ExitCode;

/// An exit status of `trailhouse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing to report.
    Ok,
    /// An error (the message on stderr says what), or rule tests / lint that failed.
    Error,
    /// `ingest`: the source holds no CloudTrail log file (`--allow-empty` accepts that).
    NoLogFiles,
    /// `detect`: the run delivered new alerts.
    Alerts,
    /// `verify`: a digest, signature, link, hour or log file is wrong, or a log file no
    /// digest covers.
    Problems,
    /// Interrupted (SIGINT/Ctrl-C); what was committed is kept.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::NoLogFiles => 2,
            Exit::Alerts => 3,
            Exit::Problems => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// The statuses as `--help` lists them.
pub const HELP: &str = "Exit status: 0 done; 1 an error; 2 ingest found no CloudTrail log file; \
                        3 detect delivered new alerts; 4 verify found a problem; 130 interrupted.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_line_names_every_status() {
        for e in [Exit::Ok, Exit::Error, Exit::NoLogFiles, Exit::Alerts, Exit::Problems, Exit::Interrupted] {
            assert!(HELP.contains(&format!(" {} ", e.code())), "{e:?} ({}) missing from the help", e.code());
        }
    }
}
