//! What can be checked of `deploy/` without a cluster or a Docker engine:
//! Prometheus's configurations and rules with promtool (including the rules'
//! unit tests), the nginx front door with `nginx -t`, the Kubernetes
//! manifests against Kubernetes's schemas (`kubernetes-validate`), the
//! compose file against the compose specification's schema, and that every
//! variable, port, probe path, binary and metric these files name exists in
//! the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy(path: &str) -> PathBuf {
    root().join("deploy").join(path)
}

/// A fresh folder under `target/` for files a check writes.
fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target/deploy-checks")
        .join(platform::testing::unique(name));
    std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
    dir
}

/// Runs a checker; a missing tool fails with what installs it.
fn run(program: &str, args: &[&str], cwd: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): `deploy/stack test` installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the file is readable");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            value.apply_merge().expect("merge keys resolve");
            serde_json::to_value(value).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn k8s_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("k8s"))
        .expect("deploy/k8s exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every Rust source file of the services and the shared crates, concatenated.
fn service_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut out = String::new();
    for krate in ["write-api", "read-api/src", "projector/src", "shared"] {
        walk(&root().join(krate), &mut out);
    }
    out
}

#[test]
fn prometheus_configuration_and_rules_pass_promtool() {
    let dir = deploy("prometheus");
    run("promtool", &["check", "config", "prometheus.yml"], &dir);
    run("promtool", &["check", "rules", "rules.yml"], &dir);
    let tests = run("promtool", &["test", "rules", "rules.test.yml"], &dir);
    assert!(tests.contains("SUCCESS"), "{tests}");

    // The compose deployment's configuration, with the rules beside it as mounted there.
    let compose = scratch("prometheus-compose");
    std::fs::copy(
        deploy("compose/prometheus.yml"),
        compose.join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(dir.join("rules.yml"), compose.join("rules.yml")).unwrap();
    run("promtool", &["check", "config", "prometheus.yml"], &compose);
}

#[test]
fn the_front_door_configuration_passes_nginx_t() {
    // As in the compose deployment: includes beside the configuration,
    // run-time files under a separate prefix.
    let dir = scratch("nginx");
    let prefix_dir = dir.join("prefix");
    std::fs::create_dir_all(&prefix_dir).unwrap();
    for file in ["nginx.conf", "problems.conf"] {
        std::fs::copy(deploy("nginx").join(file), dir.join(file)).unwrap();
    }
    std::fs::write(
        dir.join("upstreams.conf"),
        "upstream write_api { server 127.0.0.1:8080; }\n\
         upstream read_api { server 127.0.0.1:8081; server 127.0.0.1:8082; }\n",
    )
    .unwrap();
    std::fs::copy(deploy("compose/listen.conf"), dir.join("listen.conf")).unwrap();
    std::fs::copy(deploy("compose/limits.conf"), dir.join("limits.conf")).unwrap();
    let prefix = format!("{}/", prefix_dir.display());
    let conf = dir.join("nginx.conf");
    run(
        "nginx",
        &[
            "-t",
            "-p",
            &prefix,
            "-c",
            conf.to_str().unwrap(),
            "-e",
            "stderr",
        ],
        &dir,
    );
}

/// Kubernetes' front door runs the committed nginx configuration: its
/// ConfigMap holds copies that must not drift from `deploy/nginx/`.
#[test]
fn the_kubernetes_front_door_runs_the_committed_nginx_configuration() {
    let docs = yaml_documents(&deploy("k8s/front-door.yaml"));
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("front-door.yaml has the nginx ConfigMap");
    for file in ["nginx.conf", "problems.conf"] {
        let committed = std::fs::read_to_string(deploy("nginx").join(file)).unwrap();
        assert_eq!(
            config["data"][file].as_str(),
            Some(committed.as_str()),
            "deploy/k8s/front-door.yaml's {file} differs from deploy/nginx/{file}"
        );
    }
    for file in ["upstreams.conf", "listen.conf", "limits.conf"] {
        assert!(config["data"][file].is_string(), "{file}");
    }
}

#[test]
fn kubernetes_manifests_match_the_kubernetes_schemas() {
    let files: Vec<String> = k8s_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(files.len() >= 6, "{files:?}");
    let mut args = vec!["--strict", "--quiet"];
    args.extend(files.iter().map(String::as_str));
    run("kubernetes-validate", &args, &root());
}

#[test]
fn the_compose_file_matches_the_compose_specification() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("compose/compose-spec.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft201909)
        .build(&schema)
        .expect("the compose schema compiles");
    let compose = &yaml_documents(&deploy("compose/compose.yaml"))[0];
    let errors: Vec<String> = validator
        .iter_errors(compose)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The schema is not a formality: it rejects what compose would.
    let mut broken = compose.clone();
    broken["services"]["read-api"]["deploy"]["replicas"] = Value::from("two");
    assert!(!validator.is_valid(&broken));
}

/// One of our containers as a deployment file describes it.
#[derive(Debug, Default)]
struct Container {
    origin: String,
    binary: String,
    env: BTreeSet<String>,
    listen_port: Option<u16>,
    ports: BTreeSet<u16>,
    probe_paths: BTreeSet<String>,
}

/// The port of an `*_ADDR` value such as `0.0.0.0:8080`.
fn addr_port(value: &str) -> u16 {
    value
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{value} is not host:port"))
}

fn compose_containers() -> Vec<Container> {
    let compose = &yaml_documents(&deploy("compose/compose.yaml"))[0];
    let mut out = Vec::new();
    for (name, service) in compose["services"].as_object().unwrap() {
        let Some(binary) = service["command"][0].as_str() else {
            continue;
        };
        if !["write-api", "relay", "projector", "read-api"].contains(&binary) {
            continue;
        }
        let mut container = Container {
            origin: format!("compose service {name}"),
            binary: binary.to_owned(),
            ..Container::default()
        };
        for (key, value) in service["environment"].as_object().unwrap() {
            container.env.insert(key.clone());
            if key.ends_with("_ADDR") {
                container.listen_port = Some(addr_port(value.as_str().unwrap()));
            }
        }
        // Healthchecks are `curl -fsS http://localhost:PORT/PATH`.
        let url = service["healthcheck"]["test"]
            .as_array()
            .and_then(|t| t.last())
            .and_then(Value::as_str)
            .expect("a healthcheck URL");
        let rest = url.strip_prefix("http://localhost:").expect("a local URL");
        let (port, path) = rest.split_once('/').unwrap();
        container.ports.insert(port.parse().unwrap());
        container.probe_paths.insert(format!("/{path}"));
        out.push(container);
    }
    out
}

fn k8s_containers() -> (Vec<Container>, BTreeSet<String>) {
    let mut containers = Vec::new();
    let mut config_keys = BTreeSet::new();
    for file in k8s_files() {
        for doc in yaml_documents(&file) {
            // Settings the services read; the front door's files are not.
            if doc["kind"] == "ConfigMap" && doc["metadata"]["name"] != "front-door-nginx" {
                config_keys.extend(doc["data"].as_object().unwrap().keys().cloned());
            }
            if doc["kind"] != "Deployment" {
                continue;
            }
            let annotations = &doc["spec"]["template"]["metadata"]["annotations"];
            for c in doc["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                // The front door's nginx is checked by its own tests.
                .filter(|c| c["image"] != "nginx:1.27")
            {
                let mut container = Container {
                    origin: format!("{} container {}", file.display(), c["name"]),
                    binary: c["command"][0].as_str().unwrap().to_owned(),
                    ..Container::default()
                };
                let named: Vec<(String, u16)> = c["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["containerPort"].as_u64().unwrap() as u16,
                        )
                    })
                    .collect();
                container.ports.extend(named.iter().map(|p| p.1));
                for env in c["env"].as_array().unwrap() {
                    let name = env["name"].as_str().unwrap().to_owned();
                    if name.ends_with("_ADDR") {
                        container.listen_port = Some(addr_port(env["value"].as_str().unwrap()));
                    }
                    container.env.insert(name);
                }
                for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                    let get = &c[probe]["httpGet"];
                    container
                        .probe_paths
                        .insert(get["path"].as_str().unwrap().to_owned());
                    let port = match &get["port"] {
                        Value::String(name) => named.iter().find(|p| &p.0 == name).unwrap().1,
                        other => other.as_u64().unwrap() as u16,
                    };
                    container.ports.insert(port);
                }
                if let Some(port) = annotations["prometheus.io/port"].as_str() {
                    container.ports.insert(port.parse().unwrap());
                }
                containers.push(container);
            }
        }
    }
    (containers, config_keys)
}

#[test]
fn deployments_name_only_variables_ports_paths_and_binaries_the_code_has() {
    let sources = service_sources();
    let ops = std::fs::read_to_string(root().join("shared/platform/src/ops.rs")).unwrap();
    let (k8s, config_keys) = k8s_containers();
    let compose = compose_containers();
    assert_eq!(k8s.len(), 4, "{k8s:#?}");
    assert_eq!(compose.len(), 4, "{compose:#?}");

    for name in &config_keys {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "the ConfigMap sets {name}, which no service reads"
        );
    }
    let binaries = ["write-api", "relay", "projector", "read-api"];
    for c in k8s.iter().chain(&compose) {
        assert!(
            binaries.contains(&c.binary.as_str()),
            "{}: {}",
            c.origin,
            c.binary
        );
        for name in &c.env {
            assert!(
                sources.contains(&format!("\"{name}\"")),
                "{} sets {name}, which no service reads",
                c.origin
            );
        }
        let port = c
            .listen_port
            .unwrap_or_else(|| panic!("{} sets no *_ADDR", c.origin));
        assert_eq!(
            c.ports,
            BTreeSet::from([port]),
            "{}: every port it names is the one it listens on",
            c.origin
        );
        // The port is the service's default, so the image and the docs agree.
        let addr_var = c.env.iter().find(|e| e.ends_with("_ADDR")).unwrap();
        assert!(
            sources.contains(&format!("(\"{addr_var}\", \"127.0.0.1:{port}\"")),
            "{}: {port} is not {addr_var}'s default port",
            c.origin
        );
        for path in &c.probe_paths {
            assert!(
                ops.contains(&format!(".at(\"{path}\"")),
                "{}: probe path {path} is not served",
                c.origin
            );
        }
    }
    // The private signing key goes to the write API only; the read side
    // never learns where the write database is.
    for c in k8s.iter().chain(&compose) {
        assert!(
            !(c.binary == "read-api" && c.env.contains("DATABASE_URL")),
            "{}",
            c.origin
        );
        assert_eq!(
            c.env.contains("JWT_PRIVATE_KEY_FILE"),
            c.binary == "write-api",
            "{}",
            c.origin
        );
    }
}

/// Metric names a PromQL expression reads: identifiers outside quotes and
/// label matchers, not followed by `(` (functions), not after `by`/`without`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let (mut depth_braces, mut in_quotes, mut grouping) = (0, false, false);
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_quotes {
            in_quotes = c != '"';
            i += 1;
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            ')' => grouping = false,
            _ if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if word == "by" || word == "without" {
                    grouping = true;
                } else if depth_braces == 0 && !grouping && next != Some(&'(') && word.contains('_')
                {
                    names.insert(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

#[test]
fn the_metric_name_parser_skips_functions_labels_and_strings() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{source="durable_cold"}[5m]))) / up"#
        ),
        BTreeSet::from(["http_request_duration_seconds_bucket".to_owned()])
    );
}

#[test]
fn dashboards_and_rules_query_only_metrics_the_services_export() {
    let sources = service_sources();
    let rules = &yaml_documents(&deploy("prometheus/rules.yml"))[0];
    let mut recorded = BTreeSet::new();
    let mut exprs: Vec<(String, String)> = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(name) = rule["record"].as_str() {
                recorded.insert(name.to_owned());
            }
            let label = rule["record"].as_str().or(rule["alert"].as_str()).unwrap();
            exprs.push((
                format!("rule {label}"),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let dashboards: Vec<PathBuf> = std::fs::read_dir(deploy("grafana"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!dashboards.is_empty());
    for file in &dashboards {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                exprs.push((
                    format!("{} panel {}", file.display(), panel["title"]),
                    target["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    for (origin, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty() || expr.contains("up"), "{origin}: {expr}");
        for name in names {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                recorded.contains(&name) || sources.contains(&format!("\"{base}\"")),
                "{origin} reads {name}, which nothing exports"
            );
        }
    }
}
