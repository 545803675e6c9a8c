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
        &[
            "bench",
            "ingest",
            "--events",
            "2000",
            "--clients",
            "2",
            "--intake-log",
            "false",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("intake log:"), "{stdout}");
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
fn bench_ingest_with_the_intake_log_counts_until_everything_is_applied() {
    // On SQLite the intake log is on by default.
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(
        dir.path(),
        &["bench", "ingest", "--events", "3000", "--clients", "2"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("intake log: the last request was answered")),
        "{stdout}"
    );
    assert!(stdout.contains("stored: 3,000 events"), "{stdout}");

    // A value that is not a boolean stops the start with a message naming the setting.
    let out = Command::new(env!("CARGO_BIN_EXE_hatchery"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("migrate")
        .env_remove("HATCHERY_DATABASE_URL")
        .env_remove("HATCHERY_CONFIG")
        .env("HATCHERY_INTAKE_LOG", "maybe")
        .env("HATCHERY_LOG", "warn")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("HATCHERY_INTAKE_LOG: expected true or false"),
        "{stderr}"
    );
}

#[test]
fn bench_ingest_with_segments_reports_the_evaluation_lag_of_a_paced_load() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "ingest",
        "--events",
        "1000",
        "--batch",
        "250",
        "--clients",
        "2",
        "--prefill",
        "200",
        "--prefill-events-per-contact",
        "3",
        "--segments",
        "3",
        "--scoring",
        "--nurture",
        "--rate",
        "2000",
        "--burst",
        "500",
    ];
    let out = hatchery(dir.path(), &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("paced at 2,000 events/s"), "{stdout}");
    assert!(
        stdout.contains("settled:  3 segments materialised, 200 contact evaluations"),
        "{stdout}"
    );
    // Four requests of 250 an eighth of a second apart: the last leaves 0.375 s after the first.
    let line = stdout.lines().find(|l| l.starts_with("ingest:")).unwrap();
    let secs: f64 = line
        .split(" in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line}"));
    assert!(secs >= 0.375, "{line}");
    assert!(
        stdout.lines().any(
            |l| l.contains("lag from receipt to memberships being visible")
                && l.contains("within 1 s")
                && !l.contains("p99 -")
        ),
        "{stdout}"
    );
    // The burst after the paced traffic: its own rate, and the evaluator catching up.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("burst:    500 more events")
                && l.contains("events/s end to end")
                && l.contains("evaluation caught up")),
        "{stdout}"
    );
}

#[test]
fn bench_import_imports_the_generated_export_and_checks_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(
        dir.path(),
        &[
            "bench",
            "import",
            "--rows",
            "3000",
            "--prefill",
            "200",
            "--chunk-rows",
            "700",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("import:") && l.contains("rows/s")),
        "{stdout}"
    );
    // The run itself fails unless the import's report matches what the generator wrote.
    assert!(
        stdout.contains("check:    the report matches what the generator wrote"),
        "{stdout}"
    );
    assert!(
        stdout.contains("baseline:") && stdout.contains("ratio:") && stdout.contains("peak RSS"),
        "{stdout}"
    );
    assert!(stdout.contains("rows rejected (invalid_email"), "{stdout}");
}

#[test]
fn bench_console_signs_in_and_times_every_contact_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(
        dir.path(),
        &[
            "bench",
            "console",
            "--contacts",
            "300",
            "--timeline-contacts",
            "5",
            "--events",
            "120",
            "--iterations",
            "3",
            "--warmup",
            "1",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("signed in: an administrator and a sales rep"),
        "{stdout}"
    );
    for page in [
        "list: first page",
        "list: deep page (cursor)",
        "list: filter by tag",
        "search: name prefix (surname)",
        "search: mobile prefix",
        "contact 360°",
    ] {
        assert!(stdout.contains(page), "no row for `{page}`:\n{stdout}");
    }
    // The 360° page of a contact with 120 events shows its newest 100.
    let contact = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("contact 360° "))
        .unwrap();
    let rows: f64 = contact
        .split_whitespace()
        .rev()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rows, 100.0, "{contact}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("console:  worst p95") && l.contains("at 300 contacts")),
        "{stdout}"
    );
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

#[test]
fn a_wrong_number_of_evaluator_workers_stops_start_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hatchery.toml"), "evaluator_workers = 0\n").unwrap();
    let out = hatchery(dir.path(), &["migrate"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "0 workers must fail:\n{stdout}");
    assert!(
        stderr.contains("evaluator_workers must be between 1 and 16"),
        "{stderr}"
    );
    // The environment wins over the file, and a good value starts.
    let out = Command::new(env!("CARGO_BIN_EXE_hatchery"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("migrate")
        .env_remove("HATCHERY_DATABASE_URL")
        .env_remove("HATCHERY_CONFIG")
        .env("HATCHERY_EVALUATOR_WORKERS", "3")
        .env("HATCHERY_LOG", "warn")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

/// Runs the binary with `input` on standard input.
fn hatchery_with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hatchery"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("HATCHERY_DATABASE_URL")
        .env_remove("HATCHERY_DATABASE_URL_FILE")
        .env_remove("HATCHERY_CONFIG")
        .env_remove("HATCHERY_DATA_DIR")
        .env("HATCHERY_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hatchery binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn admin_user_create_reads_the_password_from_stdin_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let create = [
        "admin",
        "user",
        "create",
        "--email",
        "Admin@Example.cn",
        "--name",
        "李雷",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = hatchery_with_stdin(dir.path(), &create, "a long enough secret\n");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.trim().starts_with("usr_"), "{stdout}");
    assert!(!stdout.contains("secret") && !stderr.contains("secret"));

    let again = hatchery_with_stdin(dir.path(), &create, "a long enough secret\n");
    assert!(!again.status.success());
    assert!(
        text(&again).1.contains("already exists"),
        "{}",
        text(&again).1
    );

    let short = hatchery_with_stdin(
        dir.path(),
        &[
            "admin",
            "user",
            "create",
            "--email",
            "b@example.cn",
            "--name",
            "B",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(text(&short).1.contains("10 to 128"), "{}", text(&short).1);

    // Without a terminal and without --password-stdin there is no way to ask: say so.
    let no_tty = hatchery_with_stdin(
        dir.path(),
        &[
            "admin",
            "user",
            "create",
            "--email",
            "c@example.cn",
            "--name",
            "C",
            "--role",
            "analyst",
        ],
        "",
    );
    assert!(!no_tty.status.success());
    assert!(text(&no_tty).1.contains("--password-stdin"));
}

#[test]
fn admin_manages_business_units_grants_and_the_pool_policy() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let out = hatchery(dir.path(), args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        stdout
    };
    assert!(ok(&["admin", "bu", "create", "--name", "华东事业部"]).starts_with("bu_"));
    assert!(ok(&["admin", "bu", "list"]).contains("华东事业部"));
    let out = hatchery_with_stdin(
        dir.path(),
        &[
            "admin",
            "user",
            "create",
            "--email",
            "rep@example.cn",
            "--name",
            "王芳",
            "--role",
            "sales_rep",
            "--bu",
            "华东事业部",
            "--password-stdin",
        ],
        "a long enough secret\n",
    );
    assert!(out.status.success(), "{:?}", text(&out));
    ok(&[
        "admin",
        "user",
        "grant",
        "--email",
        "rep@example.cn",
        "--role",
        "analyst",
    ]);
    ok(&["admin", "org", "pool-policy", "bu_isolated"]);

    for (args, message) in [
        (&["admin", "org", "pool-policy", "private"][..], "shared"),
        (
            &[
                "admin",
                "user",
                "grant",
                "--email",
                "rep@example.cn",
                "--role",
                "boss",
            ][..],
            "sales_rep",
        ),
        (
            &[
                "admin",
                "user",
                "grant",
                "--email",
                "rep@example.cn",
                "--role",
                "sdr",
                "--bu",
                "西部",
            ][..],
            "no business unit",
        ),
        (
            &[
                "admin",
                "contact",
                "place",
                "--contact",
                "ct_404",
                "--bu",
                "华东事业部",
            ][..],
            "contact not found",
        ),
    ] {
        let out = hatchery(dir.path(), args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).1.contains(message), "{args:?}: {}", text(&out).1);
    }
}

#[test]
fn admin_disables_enables_and_resets_passwords_but_keeps_one_enabled_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: &str| {
        let out = hatchery_with_stdin(dir.path(), args, input);
        let (stdout, stderr) = text(&out);
        (out.status.success(), stdout, stderr)
    };
    for (email, role) in [
        ("admin@example.cn", "admin"),
        ("rep@example.cn", "sales_rep"),
    ] {
        let (ok, _, stderr) = run(
            &[
                "admin",
                "user",
                "create",
                "--email",
                email,
                "--name",
                "X",
                "--role",
                role,
                "--password-stdin",
            ],
            "a long enough secret\n",
        );
        assert!(ok, "{stderr}");
    }
    let user = |cmd: &'static str, email: &'static str| ["admin", "user", cmd, "--email", email];

    // The only administrator cannot be disabled.
    let (ok, _, stderr) = run(&user("disable", "admin@example.cn"), "");
    assert!(!ok);
    assert!(stderr.contains("last enabled administrator"), "{stderr}");

    let (ok, _, stderr) = run(&user("disable", "rep@example.cn"), "");
    assert!(ok, "{stderr}");
    assert!(stderr.contains("disabled"), "{stderr}");
    // A disabled administrator does not count: the first one is still the last enabled one.
    let (ok, _, stderr) = run(
        &[
            "admin",
            "user",
            "grant",
            "--email",
            "rep@example.cn",
            "--role",
            "admin",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    let (ok, _, _) = run(&user("disable", "admin@example.cn"), "");
    assert!(!ok, "the only enabled administrator was disabled");
    let (ok, _, stderr) = run(&user("enable", "rep@example.cn"), "");
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&user("disable", "admin@example.cn"), "");
    assert!(ok, "with two enabled administrators one may go: {stderr}");

    // Password resets follow the sign-up rules and never print the password.
    let mut reset = user("reset-password", "rep@example.cn").to_vec();
    reset.push("--password-stdin");
    let (ok, _, stderr) = run(&reset, "short\n");
    assert!(!ok);
    assert!(stderr.contains("10 to 128"), "{stderr}");
    let (ok, stdout, stderr) = run(&reset, "another long secret\n");
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("another") && !stderr.contains("another"));
    let (ok, _, stderr) = run(&user("enable", "nobody@example.cn"), "");
    assert!(!ok);
    assert!(stderr.contains("no user with this email"), "{stderr}");
}

#[test]
fn compact_rebuilds_a_stopped_database_and_refuses_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let made = hatchery(
        dir.path(),
        &[
            "admin", "source", "create", "--name", "Web", "--kind", "website",
        ],
    );
    assert!(made.status.success(), "{:?}", text(&made));
    let out = hatchery(dir.path(), &["compact"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "compact failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("rebuilt: page size 8192 → 8192 bytes"),
        "{stdout}"
    );
    // The rebuilt database still serves: the source made before is listed.
    let listed = hatchery(dir.path(), &["admin", "source", "list"]);
    assert!(text(&listed).0.contains("Web"), "{:?}", text(&listed));

    let pg = Command::new(env!("CARGO_BIN_EXE_hatchery"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("compact")
        .env(
            "HATCHERY_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env_remove("HATCHERY_CONFIG")
        .env("HATCHERY_LOG", "warn")
        .output()
        .unwrap();
    let (_, stderr) = text(&pg);
    assert!(!pg.status.success());
    assert!(
        stderr.contains("applies to the embedded SQLite database"),
        "{stderr}"
    );
}

#[test]
fn intake_lists_and_discards_requests_set_aside_without_a_server() {
    use hatchery_domain::ids::SourceId;
    use hatchery_domain::OrgId;
    use hatchery_engine::intake::log::{keep_rejected, LogRecord};

    let dir = tempfile::tempdir().unwrap();
    let out = hatchery(dir.path(), &["intake", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("no request is set aside"), "{stdout}");

    let record = LogRecord {
        seq: 5,
        org: OrgId(3),
        source: SourceId(4),
        source_name: "官网".into(),
        kind: None,
        received_at: 1_795_000_000_000,
        body: br#"{"batch":[{"type":"track","anonymousId":"a","event":"e"},{"type":"page","anonymousId":"a"}]}"#.to_vec(),
    };
    let rejected = dir.path().join("intake").join("rejected");
    keep_rejected(&rejected, &record, "the database refused it\nline two").unwrap();
    let out = hatchery(dir.path(), &["intake", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let row = stdout.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        cells,
        [
            "5",
            "org_3",
            "2026-11-18 11:06:40",
            "官网",
            "/v1/batch",
            "2",
            &record.body.len().to_string(),
            "the database refused it line two"
        ],
        "{stdout}"
    );

    let out = hatchery(dir.path(), &["intake", "discard", "6"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no request 6 is set aside"), "{stderr}");
    let out = hatchery(dir.path(), &["intake", "discard", "5"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!rejected.join(format!("{:020}.log", 5)).exists());
    assert!(!rejected.join(format!("{:020}.txt", 5)).exists());
    let (stdout, _) = text(&hatchery(dir.path(), &["intake", "list"]));
    assert!(stdout.contains("no request is set aside"), "{stdout}");
}
