//! The CloudFormation template, deploy/cloudformation/trailhouse.yaml, as
//! scripts/deploy_check.py checks it: cfn-lint, a deployment to the local AWS server's
//! CloudFormation read back, and the IAM actions the binary's code calls against the ones
//! the template's roles grant (docs/deploy.md).

use std::path::Path;
use std::process::Command;

/// scripts/deploy_check.py `args` with the test venv's Python, from the repository root;
/// asserts it succeeded (showing its output if not) and returns its stdout.
fn deploy_check(args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(test_support::python())
        .arg(root.join("scripts/deploy_check.py"))
        .args(args)
        .current_dir(root)
        // Fake credentials: the checker talks to the local server only.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "deploy_check.py {} failed:\n{stdout}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_template_passes_cfn_lint() {
    let out = deploy_check(&["lint"]);
    assert!(out.contains("lint: OK: cfn-lint"), "{out}");
}

/// Both wirings (a bucket the stack creates with its notification; an existing trail's SNS
/// topic) deploy, and the queue, its dead-letter queue, the notification or subscription
/// (each carrying a log file's notice to the queue) and every role's policy read back.
#[test]
fn the_template_deploys_and_its_queue_notification_and_policies_read_back() {
    let endpoint = test_support::endpoint();
    let out = deploy_check(&["deploy", "--endpoint", &endpoint]);
    for line in [
        "RedrivePolicy -> ",
        "CloudTrail bucket notification (applied by this checker): s3:ObjectCreated:* under org-trail/AWSLogs/o-abcdefghij/",
        "a log file put under org-trail/AWSLogs/o-abcdefghij/ reached the queue",
        "CloudTrail's SNS notification published to the topic reached the queue",
        "IngestTaskRole: docs/iam.md's service policy statement for statement",
        "deploy: OK: 2 stacks",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
}

#[test]
fn every_iam_action_the_binary_calls_is_granted_and_no_other() {
    let out = deploy_check(&["iam"]);
    // The scan found the service's own calls: an empty scan would agree with anything.
    assert!(out.contains("sqs.receive_message  ->  sqs:ReceiveMessage"), "{out}");
    assert!(out.contains("iam: OK: "), "{out}");
}
