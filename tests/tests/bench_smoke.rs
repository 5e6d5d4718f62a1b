//! A few seconds of the benchmark harness on a tiny data set: it runs end
//! to end and writes valid JSON. Nothing here judges speed.

use e2e::Stack;
use tokio::process::Command;

async fn bench(args: &[&str]) -> String {
    let output = Command::new(e2e::bin_dir().join("bench"))
        .args(args)
        .output()
        .await
        .expect("the bench binary runs (deploy/stack test builds it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_harness_runs_a_mix_and_writes_json() {
    let stack = Stack::start_with(&[("CELEBRITY_FOLLOWER_THRESHOLD", "15")]).await;
    let redis = platform::testing::redis_url();
    let stores = [
        "--database-url",
        &stack.write_db,
        "--read-database-url",
        &stack.read_db,
        "--redis-url",
        &redis,
        "--redis-prefix",
        &stack.redis_prefix,
    ];
    let mut data = vec![
        "data",
        "--users",
        "80",
        "--seed",
        "7",
        "--celebrity-threshold",
        "15",
    ];
    data.extend(stores);
    let loaded = bench(&data).await;
    assert!(loaded.contains("loaded 80 users"), "{loaded}");

    let run = platform::testing::unique("bench");
    let json = std::env::temp_dir().join(format!("{run}.json"));
    let svg = std::env::temp_dir().join(format!("{run}.svg"));
    let key = std::env::var("TEST_JWT_PRIVATE_KEY_FILE").unwrap();
    let admin = platform::testing::pg_admin_url();
    let mut mix = vec![
        "--write-url",
        &stack.write_url,
        "--read-url",
        &stack.read_url,
        "mix",
        "--ratio",
        "10:1",
        "--rate",
        "20",
        "--seconds",
        "3",
        "--seed",
        "7",
        "--lag-every",
        "2",
        "--jwt-private-key-file",
        &key,
        "--pg-admin-url",
        &admin,
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ];
    mix.extend(stores);
    bench(&mix).await;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("valid JSON");
    std::fs::remove_file(&json).ok();
    let chart = std::fs::read_to_string(&svg).expect("the chart is written");
    std::fs::remove_file(&svg).ok();
    assert!(chart.starts_with("<svg"), "an SVG chart");
    for key in [
        "git_revision",
        "parameters",
        "floors",
        "phases",
        "fan_out_lag",
        "ratios_to_floor",
        "latency_over_time",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {report}");
    }
    assert!(report["phases"][0]["operations"]["home feed"]["count"].as_u64() > Some(0));
}
