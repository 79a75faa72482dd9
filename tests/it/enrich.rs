//! Who and where: the SQL functions over the IP and account files a user points to (MaxMind
//! DB files written here with the `mmdb-writer` package, in MaxMind's and IPinfo Lite's
//! field names; an `ip-ranges.json`; a CSV of accounts; AWS Organizations on the local
//! server), AWS's ranges downloaded from a local HTTP server and cached, and the one-line
//! errors of files that cannot be read.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use serde_json::Value;
use test_support::{run_ok, trailhouse};

/// Writes `city.mmdb` (MaxMind's names), `asn.mmdb` and `ipinfo.mmdb` (IPinfo Lite's names:
/// `country_code`, `asn` as "AS64501", `as_name`) into `dir`.
pub(crate) fn write_databases(dir: &Path) {
    let script = r#"
import sys
from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet
out = sys.argv[1]
city = MMDBWriter(ip_version=6, database_type='GeoLite2-City', ipv4_compatible=True)
city.insert_network(IPSet(['198.51.100.0/24']), {'country': {'iso_code': 'US', 'names': {'en': 'United States'}},
    'city': {'names': {'en': 'Ashburn'}}, 'location': {'latitude': 39.04, 'longitude': -77.49}})
city.insert_network(IPSet(['203.0.113.0/24']), {'country': {'iso_code': 'FR', 'names': {'en': 'France'}},
    'city': {'names': {'en': 'Paris'}}, 'location': {'latitude': 48.86, 'longitude': 2.35}})
city.insert_network(IPSet(['2001:db8::/32']), {'country': {'iso_code': 'DE'}})
city.to_db_file(out + '/city.mmdb')
asn = MMDBWriter(ip_version=6, database_type='GeoLite2-ASN', ipv4_compatible=True)
asn.insert_network(IPSet(['198.51.100.0/24']), {'autonomous_system_number': MmdbU32(64500),
    'autonomous_system_organization': 'Example Hosting'})
asn.to_db_file(out + '/asn.mmdb')
lite = MMDBWriter(ip_version=6, database_type='ipinfo ip_to_country_asn.mmdb', ipv4_compatible=True)
lite.insert_network(IPSet(['203.0.113.0/24']), {'country_code': 'FR', 'asn': 'AS64501', 'as_name': 'Example Transit'})
lite.to_db_file(out + '/ipinfo.mmdb')
"#;
    let out = std::process::Command::new(test_support::python()).arg("-c").arg(script).arg(dir).output().unwrap();
    assert!(out.status.success(), "mmdb-writer: {}", String::from_utf8_lossy(&out.stderr));
}

const RANGES: &str = r#"{"syncToken": "1", "createDate": "2026-12-01-00-00-00", "prefixes": [
  {"ip_prefix": "3.0.0.0/8", "region": "GLOBAL", "service": "AMAZON", "network_border_group": "GLOBAL"},
  {"ip_prefix": "3.80.0.0/12", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"},
  {"ip_prefix": "3.80.0.0/12", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"}],
  "ipv6_prefixes": [{"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2",
  "network_border_group": "us-east-1"}]}"#;

/// A small lake (the functions need one to run in; they read no events here).
fn small_lake(dir: &Path) -> PathBuf {
    let (logs, lake) = (dir.join("logs"), dir.join("lake"));
    run_ok(trailhouse().args(["generate", "--events", "500", "--accounts", "1", "--seed", "5", "--out"]).arg(&logs));
    run_ok(trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake));
    lake
}

/// One row of `trailhouse sql` with `flags`, as JSON.
fn row(lake: &Path, flags: &[&str], sql: &str) -> Value {
    let out = run_ok(trailhouse().args(["sql", "--format", "ndjson"]).args(flags).arg("--lake").arg(lake).arg(sql));
    serde_json::from_str(out.lines().next().unwrap()).unwrap()
}

const ALL: &str = "SELECT geo_country('198.51.100.7') AS country, geo_city('198.51.100.7') AS city, \
    get_field(geo_location('198.51.100.7'), 'lat') AS lat, get_field(geo_location('198.51.100.7'), 'lon') AS lon, \
    asn('198.51.100.7') AS asn, asn_org('198.51.100.7') AS org, geo_country('2001:db8::5') AS v6, \
    geo_country('10.1.2.3') AS private, geo_country('AWS Internal') AS named, geo_country('8.8.8.8') AS unknown, \
    asn('203.0.113.9') AS lite_asn, asn_org('203.0.113.9') AS lite_org, \
    get_field(aws_service('3.85.1.2'), 'service') AS service, get_field(aws_service('3.85.1.2'), 'region') AS region, \
    get_field(aws_service('3.1.1.1'), 'service') AS amazon, get_field(aws_service('2600:1f18::1'), 'service') AS v6_service, \
    is_aws_ip('3.85.1.2') AS aws, is_aws_ip('8.8.8.8') AS not_aws, is_aws_ip('ec2.amazonaws.com') AS service_name, \
    account_name('111122223333') AS account, account_name('999999999999') AS unlisted";

#[test]
fn ip_and_account_functions_answer_from_the_files_and_null_where_they_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    write_databases(dir.path());
    std::fs::write(dir.path().join("ip-ranges.json"), RANGES).unwrap();
    std::fs::write(
        dir.path().join("accounts.csv"),
        "id,name,ou,tags\n111122223333,prod-payments,Production,team=pay\n",
    )
    .unwrap();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (city, asn, ranges, accounts) =
        (file("city.mmdb"), file("asn.mmdb"), file("ip-ranges.json"), file("accounts.csv"));
    let flags = ["--geoip-city", &city, "--geoip-asn", &asn, "--aws-ip-ranges", &ranges, "--accounts", &accounts];
    let r = row(&lake, &flags, ALL);
    assert_eq!(
        (&r["country"], &r["city"], &r["lat"], &r["lon"]),
        (&"US".into(), &"Ashburn".into(), &39.04.into(), &(-77.49).into())
    );
    assert_eq!((&r["asn"], &r["org"], &r["v6"]), (&64500.into(), &"Example Hosting".into(), &"DE".into()));
    for none in ["private", "named", "unknown", "lite_asn", "service_name", "unlisted"] {
        assert!(r[none].is_null(), "{none}: {r}");
    }
    assert_eq!(
        (&r["service"], &r["region"], &r["amazon"], &r["v6_service"]),
        (&"EC2".into(), &"us-east-1".into(), &"AMAZON".into(), &"EC2".into())
    );
    assert_eq!((&r["aws"], &r["not_aws"], &r["account"]), (&true.into(), &false.into(), &"prod-payments".into()));

    // IPinfo Lite's field names, as the ASN file.
    let lite = file("ipinfo.mmdb");
    let r = row(&lake, &["--geoip-asn", &lite, "--geoip-city", &lite], ALL);
    assert_eq!((&r["lite_asn"], &r["lite_org"]), (&64501.into(), &"Example Transit".into()), "{r}");
    assert_eq!(row(&lake, &["--geoip-city", &lite], "SELECT geo_country('203.0.113.9') AS c")["c"], "FR");

    // Without the files every answer is NULL, and nothing fails.
    let r = row(&lake, &[], ALL);
    assert!(r.as_object().unwrap().values().all(Value::is_null), "{r}");

    // The same from the settings file, relative to it.
    std::fs::write(
        dir.path().join("trailhouse.toml"),
        "geoip_city = \"city.mmdb\"\naccounts = \"accounts.csv\"\naws_ip_ranges = \"ip-ranges.json\"\n",
    )
    .unwrap();
    let settings = file("trailhouse.toml");
    let r = row(
        &lake,
        &["--config", &settings],
        "SELECT geo_city('203.0.113.9') AS c, account_name('111122223333') AS a, is_aws_ip('3.85.1.2') AS w",
    );
    assert_eq!((&r["c"], &r["a"], &r["w"]), (&"Paris".into(), &"prod-payments".into(), &true.into()), "{r}");
}

#[test]
fn a_file_that_cannot_be_read_fails_at_start_naming_it_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let bad_db = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(&bad_db, b"not a database").unwrap();
    let bad_ranges = dir.path().join("ip-ranges.json");
    std::fs::write(&bad_ranges, br#"{"prefixes": [{"ip_prefix": "3.0.0.0", "region": "x", "service": "EC2"}]}"#)
        .unwrap();
    let bad_accounts = dir.path().join("accounts.csv");
    std::fs::write(&bad_accounts, "111122223333,prod\n12345,short\n").unwrap();
    for (flag, path, words) in [
        ("--geoip-city", &bad_db, "not a MaxMind DB file"),
        ("--geoip-asn", &dir.path().join("missing.mmdb"), "no such file"),
        ("--aws-ip-ranges", &bad_ranges, "\"3.0.0.0\" is not an address/length"),
        ("--accounts", &bad_accounts, "line 2: \"12345\" is not a 12-digit account id"),
    ] {
        let out = trailhouse().args(["sql", "--lake"]).arg(&lake).arg(flag).arg(path).arg("SELECT 1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()) && stderr.contains(words), "{flag}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}

/// A local HTTP server for AWS's ranges: answers `status` (settable) with the ranges, and
/// counts requests.
fn ranges_server() -> (String, Arc<AtomicU16>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ip-ranges.json", listener.local_addr().unwrap());
    let (status, served) = (Arc::new(AtomicU16::new(200)), Arc::new(AtomicUsize::new(0)));
    let (s, n) = (status.clone(), served.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            n.fetch_add(1, Ordering::SeqCst);
            let code = s.load(Ordering::SeqCst);
            let body = if code == 200 { RANGES } else { "unavailable" };
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, status, served)
}

#[test]
fn aws_ranges_fetched_at_start_are_cached_and_the_cache_serves_when_the_download_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let (url, status, served) = ranges_server();
    let cache = dir.path().join("cache");
    let fetch = |cache: &Path| {
        trailhouse()
            .args(["sql", "--format", "ndjson", "--aws-ip-ranges", "fetch", "--lake"])
            .arg(&lake)
            .arg("SELECT is_aws_ip('3.85.1.2') AS aws, get_field(aws_service('3.85.1.2'), 'service') AS service")
            .env("TRAILHOUSE_AWS_IP_RANGES_URL", &url)
            .env("XDG_CACHE_HOME", cache)
            .output()
            .unwrap()
    };
    let out = fetch(&cache);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"aws":true,"service":"EC2"}"#);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let cached = cache.join("trailhouse/ip-ranges.json");
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), RANGES);

    // AWS unreachable: the cached copy, with a warning naming the URL.
    status.store(503, Ordering::SeqCst);
    let out = fetch(&cache);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"aws":true,"service":"EC2"}"#);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using the cached copy") && stderr.contains("503"), "{stderr}");
    assert_eq!(served.load(Ordering::SeqCst), 2, "it asked AWS first");

    // No cache either: a one-line error naming the URL.
    let out = fetch(&dir.path().join("empty-cache"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&url) && stderr.contains("503"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_names_come_from_aws_organizations_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let org = aws_sdk_organizations::Client::new(&aws.sdk_config().await);
    let _ =
        org.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await;
    let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ou = org.create_organizational_unit().parent_id(&root).name(format!("prod-{id}")).send().await.unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
    let name = format!("payments-{}", &id[..8]);
    let created = org.create_account().email(format!("{id}@example.com")).account_name(&name).send().await.unwrap();
    let account = created.create_account_status().unwrap().account_id().unwrap().to_string();
    org.move_account().account_id(&account).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();

    let out = trailhouse()
        .args(["sql", "--format", "ndjson", "--accounts", "organizations", "--lake"])
        .arg(&lake)
        .arg(format!("SELECT account_name('{account}') AS name"))
        .env("AWS_ENDPOINT_URL", test_support::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["name"], name.as_str());
    // The library sees the OU path too.
    let accounts = enrich::Accounts::from_organizations(&org).await.unwrap();
    assert_eq!(accounts.get(&account).unwrap().ou.as_deref(), Some(format!("{root}/{ou}").as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_shows_each_address_country_network_and_aws_service_and_account_names() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    write_databases(dir.path());
    std::fs::write(dir.path().join("ip-ranges.json"), RANGES).unwrap();
    let account =
        row(&lake, &[], "SELECT recipientaccountid AS a FROM cloudtrail LIMIT 1")["a"].as_str().unwrap().to_string();
    std::fs::write(dir.path().join("accounts.csv"), format!("{account},prod-payments,Production\n")).unwrap();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (city, asn, ranges, accounts) =
        (file("city.mmdb"), file("asn.mmdb"), file("ip-ranges.json"), file("accounts.csv"));
    let args = ["--geoip-city", &city, "--geoip-asn", &asn, "--aws-ip-ranges", &ranges, "--accounts", &accounts];
    let server = crate::console::Server::start(&lake, &args, None);
    let base = &server.url;

    let (status, e) =
        crate::console::get(&format!("{base}/api/enrich?ips=198.51.100.7,3.85.1.2,10.0.0.1&accounts={account}")).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["ips"]["198.51.100.7"]["asn_org"], "Example Hosting");
    assert_eq!(e["ips"]["3.85.1.2"]["aws_service"], "EC2");
    assert!(e["ips"]["10.0.0.1"].is_null(), "a private address has nothing: {e}");
    assert_eq!(e["accounts"][&account]["name"], "prod-payments");
    let info = crate::console::get(&format!("{base}/api/info")).await.1;
    assert_eq!(info["enrichment"]["accounts"], 1);

    // An investigation of an account groups its calls by country, network and AWS service.
    let inv = crate::console::get(&format!("{base}/api/investigate?kind=account&value={account}")).await.1;
    let countries = inv["countries"].as_array().unwrap();
    let counted: i64 = countries.iter().map(|c| c["events"].as_i64().unwrap()).sum();
    let want = row(
        &lake,
        &["--geoip-city", &city],
        &format!("SELECT count(geo_country(sourceipaddress)) AS n FROM cloudtrail WHERE recipientaccountid = '{account}' OR useridentity.accountid = '{account}'"),
    )["n"]
        .as_i64()
        .unwrap();
    assert_eq!(counted, want, "{countries:?}");

    // Every address shown gets its country, network and AWS service beside it; every account its name.
    let browser = crate::console::Browser::start().await;
    let q = format!(
        "SELECT '198.51.100.7' AS sourceipaddress, '3.85.1.2' AS source_ip, '8.8.8.8' AS ip_address, '{account}' AS recipientaccountid"
    );
    browser.open(&format!("{base}/sql?q={}", crate::console::urlencode(&q))).await;
    browser.ready("sql").await;
    let labels = browser
        .wait_for("the addresses' labels", "document.querySelectorAll('#sql-results .ipinfo').length >= 2 && [...document.querySelectorAll('#sql-results .ipinfo')].map((s) => s.textContent.trim())")
        .await;
    assert_eq!(labels, serde_json::json!(["US · AS64500", "AWS EC2 us-east-1"]));
    browser.open(&format!("{base}/investigate?kind=account&value={account}")).await;
    browser.ready("investigate").await;
    let name = browser
        .wait_for(
            "the account's name",
            "document.querySelector('.acctname') && document.querySelector('.acctname').textContent.trim()",
        )
        .await;
    assert_eq!(name, "prod-payments");
    assert!(browser.eval("return !!document.getElementById('investigate-countries')").await == serde_json::json!(true));
    browser.command("DELETE", "", serde_json::json!({})).await;
}

/// Instance credentials replayed from an address outside AWS, on the session's first call:
/// with AWS's ranges `detect` says so; without them it has no history to judge by, and its
/// log says which rules went without which file.
#[test]
fn stolen_instance_credentials_are_caught_on_first_use_with_aws_ranges_and_the_log_says_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02");
    std::fs::create_dir_all(&day).unwrap();
    let event = serde_json::json!({"eventVersion": "1.09", "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.50", "userAgent": "aws-cli/2.15.0", "requestParameters": null,
        "responseElements": null, "requestID": "00000000-0000-0000-0000-000000000001",
        "eventID": "9f1c0000-0000-0000-0000-000000000001", "readOnly": true, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLEWEB:i-0abc1234567890def",
            "arn": "arn:aws:sts::111122223333:assumed-role/web-server/i-0abc1234567890def",
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLEWEB",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEWEB",
                "arn": "arn:aws:iam::111122223333:role/web-server", "accountId": "111122223333", "userName": "web-server"},
                "attributes": {"creationDate": "2026-11-02T09:55:00Z", "mfaAuthenticated": "false"}, "ec2RoleDelivery": "2.0"}}});
    let name = "111122223333_CloudTrail_us-east-1_20261102T1000Z_replay.json.gz";
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(day.join(name)).unwrap(), flate2::Compression::default());
    gz.write_all(serde_json::json!({ "Records": [event] }).to_string().as_bytes()).unwrap();
    gz.finish().unwrap();
    let lake = dir.path().join("lake");
    run_ok(trailhouse().args(["ingest", "--source"]).arg(dir.path().join("logs")).arg("--lake").arg(&lake));
    std::fs::write(dir.path().join("ip-ranges.json"), RANGES).unwrap();
    let detect = |flags: &[&str]| {
        let out = trailhouse()
            .args(["detect", "--all", "--dry-run", "--format", "ndjson", "--rules"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/detections/packs/trailhouse"))
            .args(flags)
            .arg("--lake")
            .arg(&lake)
            .output()
            .unwrap();
        let alerts: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
        (alerts, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let stolen =
        |alerts: &[Value]| alerts.iter().find(|a| a["rule_id"] == "instance-credentials-used-outside-ec2").cloned();
    write_databases(dir.path());
    std::fs::write(dir.path().join("accounts.csv"), "111122223333,prod-payments\n").unwrap();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (ranges, city, accounts) = (file("ip-ranges.json"), file("city.mmdb"), file("accounts.csv"));
    let (with, _) = detect(&["--aws-ip-ranges", &ranges, "--geoip-city", &city, "--accounts", &accounts]);
    let alert = stolen(&with).unwrap_or_else(|| panic!("{with:?}"));
    // The alert carries where the address is and what the account is called.
    assert_eq!(alert["details"]["where"]["203.0.113.50"], "FR", "{alert}");
    assert_eq!(alert["details"]["account_names"]["111122223333"], "prod-payments", "{alert}");
    let (without, log) = detect(&[]);
    assert!(stolen(&without).is_none(), "{without:?}");
    let line: Vec<&str> = log.lines().filter(|l| l.contains("fall back")).collect();
    assert_eq!(line.len(), 1, "said once: {log}");
    for part in [
        "without aws_ip_ranges",
        "instance-credentials-used-outside-ec2",
        "without geoip_city",
        "console-login-impossible-travel",
    ] {
        assert!(line[0].contains(part), "{part} not in {}", line[0]);
    }
}
