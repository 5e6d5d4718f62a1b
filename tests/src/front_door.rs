//! The front door for tests: nginx with the committed configuration
//! (`deploy/nginx/`) in front of a test stack, and the small process
//! helpers around it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::Stack;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `127.0.0.1:port` of a service of the stack.
pub fn addr(stack: &Stack, name: &str) -> String {
    stack
        .service(name)
        .url
        .trim_start_matches("http://")
        .to_owned()
}

pub fn spawn(program: &str, args: &[&str], log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("the log file can be created");
    Command::new(program)
        .args(args)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} ({e}): `deploy/stack test` installs it"))
}

pub async fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{what} did not open port {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running nginx. Dropping it stops nginx the way it is meant to be
/// stopped (`nginx -s stop`: the master ends its workers, then itself) and
/// waits for the master, so no worker outlives the test, passed or failed.
pub struct Nginx {
    child: Child,
    prefix: String,
    conf: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let stopped = std::process::Command::new("nginx")
            .args([
                "-s",
                "stop",
                "-p",
                &self.prefix,
                "-c",
                &self.conf,
                "-e",
                "stderr",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.start_kill();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// nginx with the committed configuration and this stack's upstreams.
pub async fn start_nginx(stack: &Stack, dir: &Path) -> (Nginx, u16) {
    for file in ["nginx.conf", "problems.conf"] {
        std::fs::copy(root().join("deploy/nginx").join(file), dir.join(file)).unwrap();
    }
    std::fs::write(
        dir.join("upstreams.conf"),
        format!(
            "upstream write_api {{ server {}; keepalive 8; }}\n\
             upstream read_api {{ {} keepalive 8; }}\n",
            addr(stack, "write-api"),
            stack
                .services
                .iter()
                .filter(|s| s.name.starts_with("read-api"))
                .map(|s| format!(
                    "server {} max_fails=1 fail_timeout=5s;",
                    s.url.trim_start_matches("http://")
                ))
                .collect::<String>(),
        ),
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("listen.conf"),
        format!("listen 127.0.0.1:{port};\n"),
    )
    .unwrap();
    std::fs::copy(
        root().join("deploy/compose/limits.conf"),
        dir.join("limits.conf"),
    )
    .unwrap();
    let prefix = format!("{}/", dir.display());
    let conf = dir.join("nginx.conf").display().to_string();
    let log = dir.join("nginx.log");
    let child = spawn("nginx", &["-p", &prefix, "-c", &conf, "-e", "stderr"], &log);
    let nginx = Nginx {
        child,
        prefix,
        conf,
    };
    wait_port(port, "nginx", &log).await;
    (nginx, port)
}
