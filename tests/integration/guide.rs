//! docs/module-guide.md, followed as a newcomer would: the block marked
//! `guide-test` runs as written, in a shell, in a folder outside this repository,
//! against a real `mosaic serve` with the demo tenants. The guide cannot drift.

use mosaic_tests::{Replica, mosaic_command};

const SECRET: &str = "guide-test-secret-of-32-bytes-or-more";
const MARKER: &str = "<!-- guide-test:";

/// The fenced block after the marker.
fn tested_block(guide: &str) -> &str {
    let after = &guide[guide
        .find(MARKER)
        .expect("the guide marks its tested block")..];
    let start = after.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let block = &after[start..];
    &block[..block.find("```").expect("the block ends")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_guide_works_as_written() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/module-guide.md"
    ))
    .expect("the guide");
    let script = tested_block(&guide);

    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_owned();
    let mut serve = mosaic_command(crate::MOSAIC);
    serve.args(["--jwt-secret", SECRET, "serve", "--addr", "127.0.0.1:0"]);
    let host = Replica::spawn(serve, data).await;

    // `mosaic` on the PATH, as the guide's set-up puts it there.
    let bin = tempfile::tempdir().expect("bin dir");
    std::os::unix::fs::symlink(crate::MOSAIC, bin.path().join("mosaic")).expect("symlink");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().expect("work dir");
    let output = mosaic_command("bash")
        .args(["-euo", "pipefail", "-x", "-c", script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("MOSAIC_DATA_DIR", &data_dir)
        .env("MOSAIC_JWT_SECRET", SECRET)
        .env("MOSAIC_URL", host.url(""))
        // The new crate builds in its own folder, as it would for its author.
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the guide's commands failed:\n{stderr}\n{stdout}"
    );
    // curl prints each answer without a newline: the route's is the last object.
    let answer = stdout
        .rfind(r#"{"items""#)
        .map(|at| &stdout[at..])
        .unwrap_or_else(|| panic!("the route did not answer:\n{stdout}"));
    let last: serde_json::Value = serde_json::from_str(answer)
        .unwrap_or_else(|e| panic!("the route answers JSON ({e}):\n{stdout}"));
    assert_eq!(
        last,
        serde_json::json!({"items": [], "module": "hello", "next_cursor": null, "version": "0.1.0"}),
        "the guide says what the route answers"
    );
    assert!(
        guide.contains(r#"`{"items":[],"module":"hello","next_cursor":null,"version":"0.1.0"}`"#),
        "the guide shows the answer the test got"
    );
}
