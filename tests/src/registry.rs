//! A `docker-registry` (Debian's package) on 127.0.0.1 for pull tests,
//! optionally behind htpasswd basic auth; killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::free_port;

/// A running registry on `127.0.0.1:<port>`.
pub struct Registry {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a registry with its own storage; `auth` is `(user, password)` for htpasswd auth.
    pub fn start(auth: Option<(&str, &str)>) -> Result<Registry> {
        let dir = tempfile::tempdir().context("registry temp dir")?;
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{}\n", bcrypt(pass)?)).context("writing htpasswd")?;
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: k1s-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, cfg).context("writing the registry config")?;
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry (apt-get install docker-registry)")?;
        let registry = Registry { child, port, _dir: dir };
        registry.wait_listening(Path::new("/usr/bin/docker-registry"))?;
        Ok(registry)
    }

    fn wait_listening(&self, binary: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("{} did not listen on 127.0.0.1:{}", binary.display(), self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// A bcrypt hash for htpasswd (Python's crypt module; docker-registry accepts only bcrypt).
fn bcrypt(password: &str) -> Result<String> {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ])
        .output()
        .context("running python3 for a bcrypt hash")?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !hash.starts_with("$2") {
        bail!("python3 gave no bcrypt hash: {hash:?}");
    }
    Ok(hash)
}
