//! The initializer's command line: what it cannot take is a usage error (exit 64, naming it),
//! and its log lines are `tracing`'s (`--log-format json`: one JSON object per line).

use std::process::Command;

fn initializer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chiaro-initializer"));
    command
        .env_remove("RUST_LOG")
        .env_remove("CHIARO_LOG_FORMAT");
    command
}

#[test]
fn an_unknown_flag_a_log_format_or_a_rust_log_it_cannot_take_exits_64() {
    for (args, rust_log, named) in [
        (&["--no-such-flag"][..], None, "--no-such-flag"),
        (&["--log-format", "yaml"][..], None, "yaml"),
        (
            &["--deployment-anchor", "/nonexistent/anchor.json"][..],
            Some("initializer=loud"),
            "RUST_LOG=\"initializer=loud\"",
        ),
    ] {
        let mut command = initializer();
        command.args(args);
        if let Some(levels) = rust_log {
            command.env("RUST_LOG", levels);
        }
        let output = command.output().expect("the initializer runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn a_failure_is_logged_as_a_json_line_and_exits_1() {
    // No deployment anchor file: it fails at run time (exit 1), after the log is set up.
    let output = initializer()
        .args([
            "--log-format",
            "json",
            "--deployment-anchor",
            "/nonexistent/anchor.json",
        ])
        .output()
        .expect("the initializer runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    #[derive(serde::Deserialize)]
    struct Line {
        level: String,
        message: String,
    }
    let lines: Vec<Line> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line.level == "ERROR" && line.message.contains("/nonexistent/anchor.json")),
        "{stderr}"
    );
}
