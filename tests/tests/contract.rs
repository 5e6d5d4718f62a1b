//! The public contract, checked by schemathesis against the running
//! services: every OpenAPI document the system serves (the write host's and
//! the read host's), with generated requests from an authenticated user,
//! its examples, coverage, fuzzing and stateful phases (the stateful one
//! follows the documents' links: create → edit → delete on the write host,
//! feed → post → author → timeline on the read host). Zero failures of the
//! checks named in [`CHECKS`] is the bar: no 5xx, and every status, content
//! type, header and body as documented.
//!
//! schemathesis is installed (pinned) by `deploy/stack test`.

use std::time::Instant;

use e2e::Stack;
use platform::openapi::{Link, missing_links};
use tokio::process::Command;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance";

/// Each document's time budget; both run at once.
const BUDGET_SECS: &str = "75";
const SEED: &str = "20261202";

/// The documents the system serves, with the links each must carry.
fn documents(stack: &Stack) -> [(&'static str, String, &'static [Link]); 2] {
    [
        ("write", stack.write_url.clone(), write_api::app::LINKS),
        ("read", stack.read_url.clone(), read_api::app::LINKS),
    ]
}

async fn schemathesis(base: &str, token: &str) -> (bool, String) {
    // schemathesis keeps a cache of past failures in its working directory
    // and replays them first: a fresh one per run keeps the run the seed's.
    let workdir = std::env::temp_dir().join(platform::testing::unique("schemathesis"));
    std::fs::create_dir_all(&workdir).unwrap();
    let output = Command::new("st")
        .current_dir(&workdir)
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-time", BUDGET_SECS, "--seed", SEED, "--workers", "1"])
        .args(["--request-timeout", "10", "--output-truncate", "true"])
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output()
        .await
        .expect(
            "schemathesis (`st`) is on PATH: run the tests through `deploy/stack test`, \
             which installs it",
        );
    let _ = std::fs::remove_dir_all(&workdir);
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_served_openapi_document_holds_under_schemathesis() {
    let (stack, http, [fuzzer, author]) = Stack::with_accounts(&[], ["fuzzer", "author"]).await;
    // Something to read: a followed author's posts in the fuzzer's feed.
    stack.follow(&http, &fuzzer.access, &author.id, true).await;
    let consistency = stack
        .post_numbered(&http, &author.access, "seeded", 3)
        .await;
    assert_eq!(
        stack
            .whole_feed(&http, &fuzzer.access, &consistency, 20)
            .await
            .len(),
        3
    );

    for (host, url, links) in documents(&stack) {
        let served = http
            .get(format!("{url}/openapi.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            missing_links(&served, links).is_empty(),
            "{host}: every link joins two documented operations"
        );
        assert!(served.contains("\"links\""), "{host}: links are served");
    }

    let started = Instant::now();
    let runs = documents(&stack).map(|(host, url, _)| {
        let token = fuzzer.access.clone();
        async move { (host, schemathesis(&url, &token).await) }
    });
    let results = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let mut failed = Vec::new();
    for (host, (ok, output)) in results {
        let summary: Vec<&str> = output
            .lines()
            .skip_while(|line| !line.contains("SUMMARY"))
            .collect();
        eprintln!("schemathesis, {host} host:\n{}", summary.join("\n"));
        if !ok {
            eprintln!("schemathesis, {host} host, full output:\n{output}");
            failed.push(host);
        }
    }
    eprintln!(
        "schemathesis: both documents in {:.0} s",
        elapsed.as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "schemathesis found failures on: {failed:?}"
    );
}
