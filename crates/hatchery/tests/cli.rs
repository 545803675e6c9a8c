//! The built binary end to end, each test in a fresh data directory: demo data, a small ingest
//! benchmark and administration from the command line.

use std::path::Path;
use std::process::{Command, Output};

fn hatchery(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hatchery"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        // The surrounding environment must not point the binary at another database.
        .env_remove("HATCHERY_DATABASE_URL")
        .env_remove("HATCHERY_DATABASE_URL_FILE")
        .env_remove("HATCHERY_CONFIG")
        .env_remove("HATCHERY_DATA_DIR")
        .env("HATCHERY_LOG", "warn")
        .output()
        .expect("the hatchery binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn demo_fills_a_fresh_instance_through_the_tracking_api_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(dir.path(), &["demo", "--contacts", "50", "--seed", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for line in [
        "people generated",
        "contacts",
        "merges",
        "events",
        "accounts",
        "elapsed",
    ] {
        assert!(stdout.contains(line), "summary lacks `{line}`:\n{stdout}");
    }
    let contacts = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("contacts"))
        .unwrap();
    assert!(
        contacts.contains(" 50 in the organisation"),
        "one contact per generated person: {contacts}"
    );
    assert!(dir.path().join("hatchery.db").exists());
}

#[test]
fn bench_ingest_prints_an_events_per_second_rate_and_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(
        dir.path(),
        &["bench", "ingest", "--events", "2000", "--clients", "2"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ingest:") && l.contains("events/s")),
        "{stdout}"
    );
    assert!(
        stdout.contains("baseline:") && stdout.contains("ratio:") && stdout.contains("peak RSS"),
        "{stdout}"
    );
    assert!(stdout.contains("stored: 2,000 events"), "{stdout}");
}

#[test]
fn admin_source_create_prints_a_write_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(dir.path(), &["admin", "source", "create", "--name", "X"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.trim().starts_with("hwk_"), "{stdout}");
}

#[test]
fn admin_api_key_create_refuses_an_unknown_scope_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(
        dir.path(),
        &[
            "admin", "api-key", "create", "--name", "k", "--scope", "nope",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "an unknown scope must fail:\n{stdout}"
    );
    assert!(
        stderr.contains("nope"),
        "the error names the scope:\n{stderr}"
    );
}
