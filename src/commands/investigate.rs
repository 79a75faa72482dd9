//! `trailhouse investigate accesskey|session|role VALUE`: the credential chain
//! ([`query::chain`]) as a tree, or as JSON.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{ClusterArgs, DurationArg, LakeAccess, age};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// What VALUE is: an access key id (`accesskey`: AKIA..., ASIA...), a role session's ARN
    /// (`session`: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or a role's ARN (`role`:
    /// every session of it).
    #[arg(value_parser = ["accesskey", "session", "role"])]
    pub kind: String,
    pub value: String,
    /// Only the calls of the last DUR (e.g. 30d) [default: all the lake holds].
    #[arg(long, value_parser = age, value_name = "DUR")]
    pub since: Option<DurationArg>,
    /// The chains as one JSON document (a list of trees) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let subject = query::chain::Subject::parse(&a.kind, &a.value)?;
    let session = a.cluster.session(&a.lake).await?;
    let within = match &a.since {
        Some(d) => {
            let from = lake::time::now_micros() - d.micros;
            let (y, m, day) = lake::time::civil_from_days(i64::from(lake::time::day_of(from)));
            format!(
                "eventtime >= TIMESTAMP '{}' AND eventdate >= DATE '{y:04}-{m:02}-{day:02}'",
                lake::time::format_canonical(from)
            )
        }
        None => "true".to_string(),
    };
    let trees = query::chain::chains(&session, &subject, &within).await?;
    let found = trees.iter().any(|t| t.walk().iter().any(|c| c.subject && (c.calls > 0 || c.made.is_some())));
    if a.json {
        println!("{}", serde_json::to_string_pretty(&trees)?);
    } else if found {
        print!("{}", query::chain::render(&trees));
    }
    if !found {
        eprintln!(
            "No calls with {} {} in this lake{}.",
            a.kind,
            a.value,
            a.since.map(|d| format!(" in the last {d}")).unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
