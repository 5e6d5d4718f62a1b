//! The Mastodon-compatible API through the front door's one origin
//! (`social.localhost`): real Mastodon clients, unmodified, and the OAuth
//! flows they use. The clients are installed, pinned, by `deploy/stack
//! test` into a virtualenv named by `MASTODON_CLIENTS_BIN`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::Stack;
use e2e::front_door::{root, start_nginx};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::process::Command;

/// The virtualenv's `bin` with Mastodon.py and toot.
fn clients_bin() -> PathBuf {
    PathBuf::from(std::env::var("MASTODON_CLIENTS_BIN").expect(
        "MASTODON_CLIENTS_BIN names the clients' virtualenv: run the tests through \
         `deploy/stack test`, which installs them",
    ))
}

/// A client for the front door that resolves `social.localhost` to it.
fn social_client(port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve("social.localhost", ([127, 0, 0, 1], port).into())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn run_client(program: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(240),
        Command::new(program)
            .args(args)
            .current_dir(root().join("tests/clients"))
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes within 240 s")
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn mastodon_py_runs_its_whole_scenario_through_the_front_door() {
    // Mastodon.py's stream handles close at the next message or
    // heartbeat: frequent heartbeats let the scenario end promptly.
    let stack = Stack::start_with(&[("STREAM_HEARTBEAT_SECS", "1")]).await;
    let dir = tempdir("mastodon-py");
    let (_nginx, port) = start_nginx(&stack, &dir).await;
    let base = format!("http://social.localhost:{port}");
    let run = platform::testing::unique("m").replace(['-', ':', '.'], "_");
    let run = &run[run.len().saturating_sub(10)..];
    let (ok, output) = run_client(
        &clients_bin().join("python"),
        &["mastodon_py_scenario.py", &base, run],
        &[],
    )
    .await;
    assert!(ok, "the Mastodon.py scenario failed:\n{output}");
    assert!(output.contains("scenario passed"), "{output}");
    println!("{output}");
    // The HTTP metrics name Mastodon's routes by their templates.
    for (service, route) in [
        ("read-api", "/api/v1/timelines/home"),
        ("read-api", "/api/v1/statuses/{id}/context"),
        ("write-api", "/api/v1/statuses/{id}/favourite"),
    ] {
        let metrics = reqwest::get(format!("{}/metrics", stack.service(service).url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(&format!("route=\"{route}\"")),
            "{service} has no metrics for {route}"
        );
    }
}

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(platform::testing::unique(what));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn create_app(http: &reqwest::Client, base: &str, redirect: &str) -> (String, String) {
    let app: Value = http
        .post(format!("{base}/api/v1/apps"))
        .json(&json!({"client_name": "e2e", "redirect_uris": redirect, "scopes": "read write follow"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// Registers `name` through the app's client-credentials token; returns
/// the user's token.
async fn register(
    http: &reqwest::Client,
    base: &str,
    app: &(String, String),
    name: &str,
) -> String {
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.0),
            ("client_secret", &app.1),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_token = token["access_token"].as_str().unwrap();
    let created = http
        .post(format!("{base}/api/v1/accounts"))
        .bearer_auth(app_token)
        .json(&json!({
            "username": name, "email": format!("{name}@example.org"),
            "password": "a long passphrase for tests", "agreement": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let body: Value = created.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The `code` a redirect after approval carries.
fn code_in(location: &str) -> String {
    location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .expect("the redirect carries a code")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_code_flow_with_pkce_and_revocation_work_on_every_host() {
    let stack = Stack::start().await;
    let dir = tempdir("mastodon-oauth");
    let (_nginx, port) = start_nginx(&stack, &dir).await;
    let http = social_client(port);
    let base = format!("http://social.localhost:{port}");
    let name = format!(
        "pkce{}",
        &platform::testing::unique("u").replace(['-', ':', '.'], "")[..8]
    );
    let redirect = "https://app.example/callback";
    let app = create_app(&http, &base, redirect).await;
    register(&http, &base, &app, &name).await;

    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );

    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-more-entropy";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = [
        ("response_type", "code"),
        ("client_id", app.0.as_str()),
        ("redirect_uri", redirect),
        ("scope", "read write"),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let form = http
        .get(format!("{base}/oauth/authorize"))
        .query(&authorize)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.headers()["x-frame-options"], "DENY");
    let page = form.text().await.unwrap();
    assert!(
        page.contains("<form") && page.contains("name=\"password\""),
        "{page}"
    );

    let mut fields: Vec<(&str, &str)> = authorize.to_vec();
    fields.extend([
        ("username", name.as_str()),
        ("password", "a wrong password!"),
    ]);
    let refused = http
        .post(format!("{base}/oauth/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    fields.pop();
    fields.push(("password", "a long passphrase for tests"));
    let approved = http
        .post(format!("{base}/oauth/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let location = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(redirect) && location.contains("state=xyz"),
        "{location}"
    );
    let code = code_in(&location);

    let exchange = |verifier: &'static str| {
        http.post(format!("{base}/oauth/token"))
            .json(&json!({
                "grant_type": "authorization_code", "code": code, "client_id": app.0,
                "redirect_uri": redirect, "code_verifier": verifier,
            }))
            .send()
    };
    let wrong = exchange("not-the-verifier-not-the-verifier-not-the-verifier")
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let wrong_body: Value = wrong.json().await.unwrap();
    assert_eq!(wrong_body["error"], "invalid_grant");
    // The wrong verifier spent the code: a code is single use, whatever happens.
    let spent = exchange("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-more-entropy")
        .await
        .unwrap();
    assert_eq!(spent.status(), StatusCode::BAD_REQUEST);

    // A fresh code, exchanged right.
    let approved = http
        .post(format!("{base}/oauth/authorize"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let location = approved.headers()["location"].to_str().unwrap().to_owned();
    let code = code_in(&location);
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": app.0,
            "redirect_uri": redirect, "code_verifier": verifier,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token["scope"], "read write");

    let me = http
        .get(format!("{base}/api/v1/accounts/verify_credentials"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], name);

    // Revoked: refused by the write host at once and by the read host
    // once the revocation has travelled the pipeline.
    let revoked = http
        .post(format!("{base}/oauth/revoke"))
        .form(&[
            ("client_id", &app.0),
            ("client_secret", &app.1),
            ("token", &access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let started = Instant::now();
    let write = http
        .post(format!("{base}/api/v1/statuses"))
        .bearer_auth(&access)
        .form(&[("status", "after revocation")])
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
    let body: Value = write.json().await.unwrap();
    assert!(body["error"].is_string(), "Mastodon's error body: {body}");
    e2e::until(
        "the read host refuses the revoked token",
        Duration::from_secs(15),
        async || {
            let read = http
                .get(format!("{base}/api/v1/accounts/verify_credentials"))
                .bearer_auth(&access)
                .send()
                .await
                .ok()?;
            (read.status() == StatusCode::UNAUTHORIZED).then_some(())
        },
    )
    .await;
    println!(
        "revocation reached the read host in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_mastodon_errors_never_a_server_error() {
    let stack = Stack::start_with(&[("APPS_PER_HOUR", "4")]).await;
    let dir = tempdir("mastodon-errors");
    let (_nginx, port) = start_nginx(&stack, &dir).await;
    let http = social_client(port);
    let base = format!("http://social.localhost:{port}");
    let app = create_app(&http, &base, "urn:ietf:wg:oauth:2.0:oob").await;
    let name = format!(
        "err{}",
        &platform::testing::unique("u").replace(['-', ':', '.'], "")[..8]
    );
    let token = register(&http, &base, &app, &name).await;

    let cases: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (
            http.post(format!("{base}/api/v1/statuses"))
                .bearer_auth(&token)
                .form(&[("status", "")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/api/v1/statuses"))
                .bearer_auth(&token)
                .form(&[("status", "x"), ("visibility", "direct")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/api/v1/statuses"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            http.post(format!("{base}/api/v1/statuses"))
                .form(&[("status", "anonymous")]),
            StatusCode::UNAUTHORIZED,
        ),
        (
            http.get(format!("{base}/api/v1/statuses/nope")),
            StatusCode::NOT_FOUND,
        ),
        (
            http.get(format!("{base}/api/v1/statuses/999999999")),
            StatusCode::NOT_FOUND,
        ),
        (
            http.get(format!("{base}/api/v1/timelines/home?limit=abc"))
                .bearer_auth(&token),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/api/v1/statuses/999999999/favourite"))
                .bearer_auth(&token),
            StatusCode::NOT_FOUND,
        ),
        (
            http.post(format!("{base}/api/v1/markers"))
                .bearer_auth(&token)
                .form(&[("home[last_read_id]", "-3")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/api/v1/notifications/nope/dismiss"))
                .bearer_auth(&token),
            StatusCode::NOT_FOUND,
        ),
        (
            http.post(format!("{base}/api/v1/notifications/clear")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            http.get(format!("{base}/api/v1/favourites?limit=0"))
                .bearer_auth(&token),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/oauth/token"))
                .form(&[("grant_type", "password"), ("client_id", "nobody")]),
            StatusCode::UNAUTHORIZED,
        ),
        (
            http.post(format!("{base}/oauth/token")).form(&[
                ("grant_type", "implicit"),
                ("client_id", &app.0),
                ("client_secret", &app.1),
            ]),
            StatusCode::BAD_REQUEST,
        ),
        (
            http.post(format!("{base}/api/v1/apps"))
                .form(&[("client_name", "x")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.post(format!("{base}/api/v1/apps"))
                .form(&[("client_name", "x"), ("redirect_uris", "not a uri")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            http.get(format!("{base}/api/v1/accounts/lookup?acct=nobody_here")),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (request, expected) in cases {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let response = http.execute(request).await.unwrap();
        assert_eq!(response.status(), expected, "{what}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    // A repeated Idempotency-Key answers the first status and posts nothing.
    let post_once = async || -> Value {
        http.post(format!("{base}/api/v1/statuses"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "once")
            .form(&[("status", "exactly once")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let (first, again) = (post_once().await, post_once().await);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["content"], "<p>exactly once</p>");

    // A token holds only the scopes it was granted.
    let read_only: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &app.0),
            ("client_secret", &app.1),
            ("username", &format!("{name}@example.org")),
            ("password", "a long passphrase for tests"),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read_only["scope"], "read", "{read_only}");
    let read_only = read_only["access_token"].as_str().unwrap();
    let refused = http
        .post(format!("{base}/api/v1/statuses"))
        .bearer_auth(read_only)
        .form(&[("status", "outside the scope")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"],
        "This action is outside the authorized scopes"
    );
    let allowed = http
        .get(format!("{base}/api/v1/timelines/home"))
        .bearer_auth(read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);

    // Applications are limited per client address: 4 here, one made above
    // (the refused ones were refused before they counted).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let made = http
            .post(format!("{base}/api/v1/apps"))
            .form(&[
                ("client_name", "more"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(made.status());
        if made.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(made.headers().contains_key("retry-after"));
            let body: Value = made.json().await.unwrap();
            assert!(body["error"].is_string(), "{body}");
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Trailing slashes, as Mastodon.py asks for the instance.
    let instance = http
        .get(format!("{base}/api/v2/instance/"))
        .send()
        .await
        .unwrap();
    assert_eq!(instance.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_toot_command_line_logs_in_posts_follows_and_reads() {
    let stack = Stack::start().await;
    let dir = tempdir("toot");
    let (_nginx, port) = start_nginx(&stack, &dir).await;
    let http = social_client(port);
    let base = format!("http://social.localhost:{port}");
    let app = create_app(&http, &base, "urn:ietf:wg:oauth:2.0:oob").await;
    let suffix = platform::testing::unique("u").replace(['-', ':', '.'], "");
    let (me, other) = (
        format!("toot{}", &suffix[..8]),
        format!("peer{}", &suffix[..8]),
    );
    register(&http, &base, &app, &me).await;
    let other_token = register(&http, &base, &app, &other).await;

    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let config = config.display().to_string();
    let python = clients_bin().join("python");
    let toot = async |args: &[&str]| {
        let mut all = vec!["toot_cli.py"];
        all.extend_from_slice(args);
        let (ok, output) = run_client(&python, &all, &[("XDG_CONFIG_HOME", &config)]).await;
        assert!(ok, "toot {args:?} failed:\n{output}");
        output
    };
    let email = format!("{me}@example.org");
    let login = toot(&[
        "login_cli",
        "-i",
        &base,
        "-e",
        &email,
        "-p",
        "a long passphrase for tests",
    ])
    .await;
    assert!(login.contains("Successfully logged in"), "{login}");
    let posted = toot(&["post", "hello from toot"]).await;
    assert!(posted.contains("Toot posted"), "{posted}");
    let followed = toot(&["follow", &other]).await;
    assert!(followed.contains(&other), "{followed}");
    let whois = toot(&["whois", &other]).await;
    assert!(whois.contains(&other), "{whois}");

    let peer_post = http
        .post(format!("{base}/api/v1/statuses"))
        .bearer_auth(&other_token)
        .form(&[("status", "seen in the home timeline")])
        .send()
        .await
        .unwrap();
    assert_eq!(peer_post.status(), StatusCode::OK);
    let last = std::sync::Mutex::new(String::new());
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let home = toot(&["timelines", "home", "--no-pager", "--no-clear", "--json"]).await;
            if home.contains("seen in the home timeline") && home.contains("hello from toot") {
                return;
            }
            *last.lock().unwrap() = home;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "toot's home timeline never showed both posts; last:\n{}",
        last.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn masto_js_logs_in_posts_pages_and_streams() {
    let stack = Stack::start().await;
    let dir = tempdir("masto-js");
    let (_nginx, port) = start_nginx(&stack, &dir).await;
    let installed = PathBuf::from(std::env::var("MASTO_JS_DIR").expect(
        "MASTO_JS_DIR names where masto.js is installed: run the tests through \
         `deploy/stack test`, which installs it",
    ));
    // ES modules resolve packages beside the script: run a copy there.
    let script = installed.join(format!("{}.mjs", platform::testing::unique("scenario")));
    std::fs::copy(root().join("tests/clients/masto_scenario.mjs"), &script).unwrap();
    let run = platform::testing::unique("j").replace(['-', ':', '.'], "_");
    let run = &run[run.len().saturating_sub(10)..];
    let base = format!("http://social.localhost:{port}");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("node")
            .arg(&script)
            .args([&base, run])
            .current_dir(&installed)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the masto.js scenario finishes within 120 s")
    .expect("node runs");
    let _ = std::fs::remove_file(&script);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("scenario passed"),
        "the masto.js scenario failed:\n{text}"
    );
}
