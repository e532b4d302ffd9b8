//! The `mosaic tenant ...` and `mosaic audit ...` commands, run as real processes on
//! a SQLite data dir.

use mosaic_tests::{Replica, mosaic_command};

async fn mosaic(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = mosaic_command(crate::MOSAIC)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .await
        .expect("mosaic runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let csv = data.join("tenants.csv");
    std::fs::write(
        &csv,
        "name,subdomain,modules,contact_email,primary_color,secondary_color\n\
         Acme,acme,attendance,it@acme.example,#112233,\n\
         Broken,www,,,,\n\
         Globex,globex,,,,#abcdef\n",
    )
    .expect("csv");
    let csv = csv.to_str().expect("utf-8");
    let (ok, stdout, stderr) = mosaic(data, &["tenant", "bulk-create", "--file", csv]).await;
    assert!(!ok, "a failed row fails the command");
    assert!(stdout.contains("row 3 (www)"), "{stdout}");
    assert!(stdout.contains("created 2 of 3 tenants"), "{stdout}");
    assert!(stderr.contains("1 of 3 rows failed"), "{stderr}");

    let (ok, stdout, _) = mosaic(data, &["tenant", "list"]).await;
    assert!(ok);
    assert!(
        stdout.contains("acme") && stdout.contains("globex") && !stdout.contains(" www "),
        "{stdout}"
    );
    assert!(stdout.contains("(2 of 2)"), "{stdout}");

    let (ok, stdout, _) = mosaic(data, &["tenant", "show", "acme"]).await;
    assert!(ok);
    let shown: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(shown["modules"]["attendance"], true);
    assert_eq!(shown["primary_color"], "#112233");
    assert!(
        shown["created_by"]
            .as_str()
            .expect("created_by")
            .starts_with("cli:")
    );

    let (ok, _, stderr) = mosaic(data, &["tenant", "suspend", "acme"]).await;
    assert!(!ok);
    assert!(stderr.contains("reason"), "{stderr}");
    let (ok, stdout, _) = mosaic(data, &["tenant", "suspend", "acme", "--reason", "unpaid"]).await;
    assert!(ok);
    assert!(stdout.contains("acme is suspended"), "{stdout}");
    let (ok, _, stderr) = mosaic(data, &["tenant", "approve", "acme"]).await;
    assert!(!ok, "approve only moves pending tenants");
    assert!(stderr.contains("cannot approve"), "{stderr}");

    let (ok, stdout, _) = mosaic(data, &["tenant", "disable", "globex", "employees"]).await;
    assert!(!ok, "core modules stay on: {stdout}");
    let (ok, _, _) = mosaic(data, &["tenant", "enable", "globex", "attendance"]).await;
    assert!(ok);
    let config = std::fs::read_to_string(data.join("tenants/globex/config.json")).expect("config");
    assert!(config.contains("\"attendance\": true"), "{config}");

    let (ok, _, _) = mosaic(data, &["tenant", "delete", "globex", "--confirm", "acme"]).await;
    assert!(!ok);
    let (ok, _, _) = mosaic(data, &["tenant", "delete", "globex", "--confirm", "globex"]).await;
    assert!(ok);
    assert!(!data.join("tenants/globex").exists());

    let (ok, stdout, _) = mosaic(data, &["audit", "verify"]).await;
    assert!(ok, "{stdout}");
    assert!(stdout.contains("audit log intact"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (ok, _, stderr) = mosaic(
        data,
        &["tenant", "create", "--name", "Acme", "--subdomain", "acme"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = mosaic(data, &["events", "list", "acme"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).expect("json"),
        serde_json::json!([])
    );
    let (ok, stdout, _) = mosaic(data, &["events", "dead-letters"]).await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).expect("json"),
        serde_json::json!([])
    );
    let (ok, _, stderr) = mosaic(data, &["events", "list", "nobody"]).await;
    assert!(!ok);
    assert!(stderr.contains("unknown tenant nobody"), "{stderr}");
    let (ok, _, stderr) = mosaic(data, &["events", "replay", "acme", "--event", "e-1"]).await;
    assert!(!ok, "an event needs its subscriber");
    assert!(stderr.contains("--subscriber"), "{stderr}");
    let (ok, _, stderr) = mosaic(
        data,
        &[
            "events",
            "replay",
            "acme",
            "--event",
            "e-1",
            "--subscriber",
            "relay",
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("no such dead letter"), "{stderr}");
    let (ok, stdout, _) = mosaic(data, &["events", "replay", "acme"]).await;
    assert!(ok);
    assert!(
        stdout.contains("replayed 0 dead letter(s) of acme"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_plan_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (ok, stdout, stderr) = mosaic(data, &["billing", "plans"]).await;
    assert!(ok, "{stderr}");
    let plans: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(plans.as_array().map(Vec::len), Some(3), "{stdout}");
    let (ok, _, stderr) = mosaic(data, &["billing", "retire-plan", "enterprise"]).await;
    assert!(ok, "{stderr}");
    let (ok, stdout, _) = mosaic(data, &["billing", "plans"]).await;
    assert!(ok);
    let plans: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(plans.as_array().map(Vec::len), Some(2), "{stdout}");
    let (ok, _, stderr) = mosaic(
        data,
        &[
            "billing",
            "update-plan",
            "business",
            r#"{"currency": "euro"}"#,
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("currency"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_tick_moves_subscriptions_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (ok, _, stderr) = mosaic(
        data,
        &["tenant", "create", "--name", "Acme", "--subdomain", "acme"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = mosaic(data, &["billing", "tick"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "[]", "nothing is due yet");
    let (ok, stdout, stderr) =
        mosaic(data, &["billing", "tick", "--now", "2100-01-01T00:00:00Z"]).await;
    assert!(ok, "{stderr}");
    let moved: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(moved[0]["from"], "trial", "{stdout}");
    assert_eq!(moved[0]["to"], "expired", "{stdout}");
    let (ok, stdout, _) = mosaic(data, &["billing", "tick", "--now", "2100-01-02T00:00:00Z"]).await;
    assert!(ok);
    assert_eq!(stdout.trim(), "[]", "a move happens once");
    let (ok, _, stderr) = mosaic(data, &["billing", "tick", "--now", "yesterday"]).await;
    assert!(!ok);
    assert!(stderr.contains("--now"), "{stderr}");
}

/// Invoices, payments and the dashboards from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_invoice_and_payment_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (ok, _, stderr) = mosaic(
        data,
        &["tenant", "create", "--name", "Acme", "--subdomain", "acme"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = mosaic(data, &["billing", "invoices", "acme"]).await;
    assert!(ok, "{stderr}");
    let invoices: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(invoices[0]["state"], "open", "{stdout}");
    assert_eq!(invoices[0]["label"], "INV-000001", "{stdout}");
    let (ok, stdout, stderr) = mosaic(data, &["billing", "dashboard", "--tenant", "acme"]).await;
    assert!(ok, "{stderr}");
    let dashboard: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(dashboard["state"], "trial", "{stdout}");
    assert_eq!(dashboard["next_invoice"]["label"], "INV-000001", "{stdout}");
    let (ok, stdout, stderr) = mosaic(data, &["billing", "dashboard"]).await;
    assert!(ok, "{stderr}");
    let platform: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(platform["subscriptions"]["trial"], 1, "{stdout}");
    let (ok, stdout, stderr) = mosaic(
        data,
        &["billing", "payments", "--status", "pending_verification"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
    let (ok, _, stderr) = mosaic(data, &["billing", "payments", "--status", "lost"]).await;
    assert!(!ok);
    assert!(stderr.contains("--status"), "{stderr}");
    let (ok, _, stderr) = mosaic(data, &["billing", "approve", "no-such-payment"]).await;
    assert!(!ok);
    assert!(stderr.contains("No such payment"), "{stderr}");
}

/// A command's JSON can be piped: logs go to stderr, and a reader that goes away
/// early is no crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_pipeable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = mosaic_command(crate::MOSAIC)
        .env("MOSAIC_LOG", "info")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["billing", "plans"])
        .output()
        .await
        .expect("mosaic runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not only JSON ({e}): {stdout}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFO"), "the logs went to stderr: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colours off a terminal: {stderr}"
    );

    // `| head -c 1`: the reader closes after one byte.
    let mut child = mosaic_command(crate::MOSAIC)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["billing", "plans"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mosaic runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().await.expect("mosaic ends");
    assert_ne!(
        output.status.code(),
        Some(101),
        "no panic: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `serve` raises its soft limit of open files to the hard one: on SQLite every
/// active tenant keeps its file open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_open_file_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    // prlimit (util-linux) starts the host with a soft limit of 256.
    let mut command = mosaic_command("prlimit");
    command.arg("--nofile=256:").arg(crate::MOSAIC).args([
        "--jwt-secret",
        "a-test-secret-of-at-least-32-bytes!",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--no-demo",
    ]);
    let host = Replica::spawn(command, dir).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", host.pid())).expect("limits");
    let open_files: Vec<&str> = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .expect("the open-file limit")
        .split_whitespace()
        .collect();
    assert_ne!(open_files[0], "256", "{limits}");
    assert_eq!(open_files[0], open_files[1], "soft = hard: {limits}");
}

/// `mosaic bench runtime` measures in a scratch database of its own, whose audit
/// rows it seals with a key of its own, and prints its table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runtime_measures_and_prints_its_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let testbed = mosaic_tests::wasm("testbed");
    let (ok, stdout, stderr) = mosaic(
        dir.path(),
        &[
            "bench",
            "runtime",
            "--module",
            testbed.to_str().expect("utf-8"),
            "--warm-runs",
            "100",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    for row in [
        "| install, compiling (empty cache) | 5 |",
        "| cold slot: instantiate + first call |",
        "| warm call (dispatch GET /fixed) | 100 |",
    ] {
        assert!(stdout.contains(row), "{row} missing from:\n{stdout}");
    }
}

/// `mosaic module ...`: check, sign, install, grant, enable through `tenant`, list
/// and uninstall a module, all from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let greeter = mosaic_tests::wasm("greeter");
    let greeter = greeter.to_str().expect("utf-8");
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect("json");

    let (ok, stdout, stderr) = mosaic(data, &["module", "check", greeter]).await;
    assert!(ok, "{stderr}");
    let checked = json(&stdout);
    assert_eq!(checked["manifest"]["key"], "greeter");
    assert_eq!(checked["manifest"]["version"], "1.0.0");
    assert_eq!(checked["contract"], "0.2.0");
    assert_eq!(
        checked["requests"],
        serde_json::json!([{"kind": "capability", "item": "files"}])
    );
    let not_wasm = data.join("not.wasm");
    std::fs::write(&not_wasm, b"hello").expect("write");
    let (ok, _, stderr) = mosaic(
        data,
        &["module", "check", not_wasm.to_str().expect("utf-8")],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("failed to parse"), "{stderr}");

    for bad in ["Hello", "9lives", "a_b"] {
        let (ok, _, stderr) =
            mosaic(data, &["module", "new", bad, "--path", "/nonexistent/x"]).await;
        assert!(!ok, "{bad}");
        assert!(stderr.contains("a module name is"), "{stderr}");
    }
    let (ok, _, stderr) = mosaic(
        data,
        &[
            "module",
            "new",
            "taken",
            "--path",
            data.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("exists already"), "{stderr}");

    let key_file = data.join("publisher.key");
    let key_file = key_file.to_str().expect("utf-8");
    let (ok, public, stderr) =
        mosaic(data, &["module", "keygen", "--secret-key-file", key_file]).await;
    assert!(ok, "{stderr}");
    let (ok, _, _) = mosaic(data, &["module", "keygen", "--secret-key-file", key_file]).await;
    assert!(!ok, "a key file is never overwritten");
    let (ok, signature, stderr) = mosaic(
        data,
        &["module", "sign", greeter, "--secret-key-file", key_file],
    )
    .await;
    assert!(ok, "{stderr}");
    let trusted = format!("acme={}", public.trim());
    let (ok, stdout, stderr) = mosaic(
        data,
        &[
            "--publisher-key",
            &trusted,
            "module",
            "install",
            greeter,
            "--signature",
            signature.trim(),
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let installed = json(&stdout);
    assert_eq!(installed["publisher"], "acme");
    assert_eq!(installed["state"], "awaiting_grant");
    assert!(stderr.contains("mosaic module grant greeter"), "{stderr}");

    let (ok, _, stderr) = mosaic(
        data,
        &["tenant", "create", "--name", "Acme", "--subdomain", "acme"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = mosaic(data, &["tenant", "enable", "acme", "greeter"]).await;
    assert!(!ok, "not serving before its grant");
    assert!(stderr.contains("unknown module greeter"), "{stderr}");
    let (ok, stdout, stderr) = mosaic(data, &["module", "grant", "greeter", "--all"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(json(&stdout)["current_version"], "1.0.0");
    let (ok, _, stderr) = mosaic(data, &["tenant", "enable", "acme", "greeter"]).await;
    assert!(ok, "{stderr}");
    let (ok, stdout, _) = mosaic(data, &["tenant", "show", "acme"]).await;
    assert!(ok);
    assert_eq!(json(&stdout)["modules"]["greeter"], true);
    let (ok, stdout, _) = mosaic(data, &["module", "list"]).await;
    assert!(ok);
    assert_eq!(json(&stdout)[0]["key"], "greeter");

    let (ok, _, stderr) = mosaic(data, &["module", "uninstall", "greeter"]).await;
    assert!(!ok);
    assert!(stderr.contains("enabled for 1 tenant"), "{stderr}");
    let (ok, _, _) = mosaic(data, &["tenant", "disable", "acme", "greeter"]).await;
    assert!(ok);
    let (ok, stdout, stderr) = mosaic(data, &["module", "uninstall", "greeter", "--purge"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(json(&stdout)["purged_tenants"], 1);
    let (ok, stdout, _) = mosaic(data, &["module", "list"]).await;
    assert!(ok);
    assert_eq!(json(&stdout), serde_json::json!([]));
}
