//! `trailhouse catalog`: the lake's tables in the AWS Glue Data Catalog (Athena, Redshift
//! Spectrum, EMR) and as Athena DDL.

use std::process::ExitCode;

use anyhow::Result;
use lake::Lake;

use crate::args::LakeAccess;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Register each table of a lake on S3 in a Glue database (created when missing) as a
    /// Delta table Athena engine 3 reads natively; registering again updates them.
    ///
    /// Example:
    ///   trailhouse catalog register --lake s3://my-lake/trailhouse --glue-database security
    ///   aws athena start-query-execution --query-string "SELECT count(*) FROM security.cloudtrail" ...
    #[command(verbatim_doc_comment)]
    Register(Target),
    /// Remove from the Glue database the tables `register` wrote (others are left alone).
    Unregister(Target),
    /// Print Athena's CREATE EXTERNAL TABLE for each table of the lake (the same
    /// registration, for those who keep DDL in a repository or run it by hand).
    Ddl(Ddl),
}

#[derive(Debug, clap::Args)]
pub struct Target {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The Glue database.
    #[arg(long, env = "TRAILHOUSE_GLUE_DATABASE")]
    pub glue_database: String,
    /// Print the Glue writes (operation and input) instead of making them (the reads that
    /// tell a create from an update are still made).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct Ddl {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// Qualify the table names with this database.
    #[arg(long)]
    pub database: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.action {
        Action::Register(t) => {
            let (glue, tables) = open(&t.lake).await?;
            let calls = catalog::register(&glue, &t.glue_database, &tables, t.dry_run).await?;
            report(&calls, t.dry_run);
            if !t.dry_run {
                println!(
                    "Registered {} tables in the Glue database {}: {}.",
                    tables.len(),
                    t.glue_database,
                    tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        Action::Unregister(t) => {
            let (glue, tables) = open(&t.lake).await?;
            let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
            let calls = catalog::unregister(&glue, &t.glue_database, &names, t.dry_run).await?;
            report(&calls, t.dry_run);
            if !t.dry_run {
                println!("Removed {} tables from the Glue database {}.", calls.len(), t.glue_database);
            }
        }
        Action::Ddl(d) => {
            let lake = Lake::open_existing(d.lake.location(), &d.lake.options(None)).await?;
            for t in catalog::lake_tables(&lake).await? {
                println!("{}\n", catalog::athena_ddl(d.database.as_deref(), &t));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(access: &LakeAccess) -> Result<(aws_sdk_glue::Client, Vec<catalog::CatalogTable>)> {
    let lake = Lake::open_existing(access.location(), &access.options(None)).await?;
    let tables = catalog::lake_tables(&lake).await?;
    let glue = aws_sdk_glue::Client::new(&access.aws().sdk_config().await);
    Ok((glue, tables))
}

fn report(calls: &[catalog::Call], dry_run: bool) {
    if dry_run {
        for c in calls {
            println!("{c}");
        }
        println!("(--dry-run: {} calls not made)", calls.len());
    }
}
