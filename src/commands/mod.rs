//! The subcommands, one file each: its arguments (`Args`) and `run`.

use std::process::ExitCode;

pub mod alerts;
pub mod catalog;
pub mod cluster;
pub mod compact;
pub mod demo;
pub mod detect;
pub mod exceptions;
pub mod export;
pub mod generate;
pub mod import;
pub mod incidents;
pub mod ingest;
pub mod investigate;
pub mod rules;
pub mod serve;
pub mod sql;
pub mod verify;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate realistic synthetic CloudTrail logs in the real S3 key layout.
    Generate(generate::Args),
    /// Ingest log files from a local folder or an S3 prefix into the lake.
    Ingest(self::ingest::Args),
    /// Import history from elsewhere: CloudTrail Lake's saved query results, checked
    /// against their signed manifest.
    ///
    /// Example:
    ///   trailhouse import --cloudtrail-lake-export ./lake-export/
    #[command(verbatim_doc_comment)]
    Import(import::Args),
    /// Generate sample logs, ingest them into ./lake, show what is in the lake and run the
    /// detection pack over it.
    Demo(demo::Args),
    /// SQL over the lake: one statement, a file of them, or an interactive prompt.
    ///
    /// Tables: cloudtrail (one row per event, Athena's column names), ingested_files (the
    /// ledger); views: actors, console_logins, source_ips, cloudtrail_logs. Functions:
    /// Athena's json_extract_scalar / json_extract / json_array_length /
    /// from_iso8601_timestamp, cidr_match, is_private_ip, arn_account, arn_resource,
    /// principal, and datafusion-functions-json (json_get_str, ->>, ...).
    ///
    /// Examples:
    ///   trailhouse sql "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC"
    ///   trailhouse sql -f hunt.sql --format csv --output hunt.csv
    ///   trailhouse sql "COPY (SELECT * FROM cloudtrail WHERE errorcode IS NOT NULL) TO 'errors/' STORED AS PARQUET PARTITIONED BY (eventdate)"
    ///   trailhouse sql            (the prompt; \? for help)
    #[command(verbatim_doc_comment)]
    Sql(sql::Args),
    /// Export a slice of the lake as partitioned zstd Parquet (for BI tools, Spark, DuckDB).
    ///
    /// Example:
    ///   trailhouse export --since 7d --where "eventsource = 'iam.amazonaws.com'" --to ./iam-week/
    #[command(verbatim_doc_comment)]
    Export(export::Args),
    /// The lake's tables in the AWS Glue Data Catalog as Delta tables Athena reads natively
    /// (register, unregister), or as Athena DDL (ddl).
    ///
    /// Examples:
    ///   trailhouse catalog register --lake s3://my-lake/trailhouse --glue-database security --dry-run
    ///   trailhouse catalog ddl --lake s3://my-lake/trailhouse --database security
    #[command(verbatim_doc_comment)]
    Catalog(catalog::Args),
    /// Compact small files (Delta OPTIMIZE) and delete unreferenced ones (VACUUM).
    Compact(compact::Args),
    /// The detection rules: list them, run their embedded tests, lint their event names.
    Rules(rules::Args),
    /// Run the detection pack over the lake; alerts to stdout, a JSONL file, a webhook and
    /// the lake's `alerts` table.
    ///
    /// By default a run is incremental: it reads only data committed since the previous run
    /// (the watermark is a Delta version kept in the lake's `detection_runs` table), plus
    /// each rule's lookback for thresholds and baselines.
    ///
    /// Exit status: 0 no new alerts, 3 new alerts, 1 error.
    ///
    /// Examples:
    ///   trailhouse detect                                  (new data since the last run)
    ///   trailhouse detect --all --dry-run                  (everything, record nothing)
    ///   trailhouse detect --since 24h --rule root-console-login
    ///   trailhouse detect --every 5m --jsonl alerts.jsonl --webhook https://hooks.slack.com/...
    #[command(verbatim_doc_comment)]
    Detect(detect::Args),
    /// Alerts from the terminal: list (newest first, with filters), show one with its
    /// events, and triage them (ack, close with a note, reopen) as the console does.
    ///
    /// Examples:
    ///   trailhouse alerts list --severity high --state open
    ///   trailhouse alerts show 3f9c2a
    ///   trailhouse alerts close 3f9c2a 81bd07 --note "planned key rotation"
    #[command(verbatim_doc_comment)]
    Alerts(alerts::Args),
    /// Incidents: each identity's alerts within a window, grouped and scored by `detect`,
    /// with their tactics in kill-chain order.
    ///
    /// Examples:
    ///   trailhouse incidents list --by-score
    ///   trailhouse incidents show 59dce0
    #[command(verbatim_doc_comment)]
    Incidents(incidents::Args),
    /// A credential's chain: where an access key, a role session or a role's sessions came
    /// from (the IAM user's key, GetSessionToken, AssumeRole in this or another account) and
    /// what they led to (sessions in other accounts, role chaining), with the time window of
    /// each key and what it did.
    ///
    /// Examples:
    ///   trailhouse investigate accesskey AKIAIOSFODNN7EXAMPLE
    ///   trailhouse investigate session arn:aws:sts::222233334444:assumed-role/admin/alice
    ///   trailhouse investigate role arn:aws:iam::222233334444:role/admin --since 30d --json
    #[command(verbatim_doc_comment)]
    Investigate(investigate::Args),
    /// Exceptions: scoped, owned, expiring reasons not to deliver an alert (a rule or '*',
    /// a SQL condition over the alert's fields, a reason, an owner, an expiry of at most a
    /// year). Matching alerts are recorded as suppressed and counted, never delivered.
    ///
    /// Examples:
    ///   trailhouse exceptions add --rule discovery-burst --when "principal = 'prowler'" --reason "weekly scan" --owner secops --expires 90d
    ///   trailhouse exceptions list
    ///   trailhouse exceptions remove 1a2b3c4d5e6f7a8b
    #[command(verbatim_doc_comment)]
    Exceptions(exceptions::Args),
    /// Verify CloudTrail log file integrity: every digest chain, its signatures, and the
    /// log files the digests list.
    ///
    /// Checks, per account and region, each hourly digest's signature (RSA/SHA-256 with
    /// CloudTrail's public keys), that it is where it says it is, that each links to the
    /// previous one with its real hash and signature, that no hour is missing, that every
    /// listed log file is there with the listed SHA-256, and that no log file is there
    /// unlisted. In a folder (an `aws s3 sync` copy of the bucket) a digest's signature
    /// comes from a `<digest>.signature` sidecar; without one, the rest is still checked.
    ///
    /// Exit status: 0 all valid, 4 a problem found, 1 error.
    ///
    /// Examples:
    ///   trailhouse verify --source ./evidence --public-keys keys.json
    ///   trailhouse verify --source ./evidence --public-keys keys.json --account 111122223333 --json
    #[command(verbatim_doc_comment)]
    Verify(verify::Args),
    /// Run a node of a DataFusion Ballista cluster (scheduler or executor) with trailhouse's
    /// functions; then `sql`, `export` and `detect` take `--cluster df://HOST:PORT`.
    ///
    /// Example (three terminals, or three machines sharing the lake's path or S3):
    ///   trailhouse cluster scheduler --bind 127.0.0.1:50050
    ///   trailhouse cluster executor --scheduler df://127.0.0.1:50050 --bind 127.0.0.1:50051 --grpc-port 50052
    ///   trailhouse sql --cluster df://127.0.0.1:50050 "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1"
    #[command(verbatim_doc_comment)]
    Cluster(cluster::Args),
    /// The web console: events per hour, alerts and their triage, investigations of a
    /// principal, IP, access key or resource, and SQL with charts and downloads.
    ///
    /// Serves on 127.0.0.1:8080 by default; open the printed URL. Off loopback it needs a
    /// token, and every request without it gets 401.
    ///
    /// Examples:
    ///   trailhouse serve
    ///   trailhouse serve --lake s3://bucket/lake --bind 0.0.0.0:8080 --auth-token "$(openssl rand -hex 16)"
    #[command(verbatim_doc_comment)]
    Serve(serve::Args),
}

impl Command {
    /// Runs the command; the exit code is its verdict (errors are the caller's to print).
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Generate(a) => generate::run(a).await,
            Command::Ingest(a) => self::ingest::run(a).await,
            Command::Import(a) => import::run(a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Sql(a) => sql::run(a).await,
            Command::Export(a) => export::run(a).await,
            Command::Catalog(a) => catalog::run(a).await,
            Command::Compact(a) => compact::run(a).await,
            Command::Rules(a) => rules::run(a).await,
            Command::Detect(a) => detect::run(a).await,
            Command::Alerts(a) => alerts::run(a).await,
            Command::Incidents(a) => incidents::run(a).await,
            Command::Investigate(a) => investigate::run(a).await,
            Command::Exceptions(a) => exceptions::run(a).await,
            Command::Verify(a) => verify::run(a).await,
            Command::Cluster(a) => cluster::run(a).await,
            Command::Serve(a) => serve::run(a).await,
        }
    }
}
