//! The test images build (once, cached) into `docker save` archives.

use std::io::Read;

fn manifest_of(path: &std::path::Path) -> serde_json::Value {
    let f = std::fs::File::open(path).expect("open archive");
    let mut ar = tar::Archive::new(f);
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == "manifest.json" {
            let mut s = String::new();
            e.read_to_string(&mut s).expect("read");
            return serde_json::from_str(&s).expect("json");
        }
    }
    panic!("no manifest.json in {}", path.display());
}

#[test]
fn busybox_and_python_archives() {
    let bb = k1s_e2e::images::ensure_busybox().expect("busybox");
    assert_eq!(manifest_of(&bb)[0]["RepoTags"][0], "busybox:1.36");
    // Cached: the second call returns the same file without rebuilding.
    assert_eq!(k1s_e2e::images::ensure_busybox().expect("busybox"), bb);
    let py = k1s_e2e::images::ensure_python().expect("python");
    assert_eq!(manifest_of(&py)[0]["RepoTags"][0], "python:3.11-slim");
}
