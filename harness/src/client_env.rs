//! The variables that point a client at a world — one list, which `memsim up` writes as
//! `env.sh` and the runner sets on an external command. The machine's own values of these
//! never reach a client: each is either set to the world's or cleared.

use std::path::{Path, PathBuf};

use crate::describe::WorldDescription;
use crate::world::World;

/// Every variable a client reads to find its CA, proxy or world. Those not set for the world
/// are cleared (`NO_PROXY` above all: the machine's bypass list must not route around it).
pub const MANAGED: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "MEMSIM_WORLD",
    "MEMSIM_DNS",
    "MEMSIM_TIME_SCALE",
    "MEMSIM_TARGET",
    // A CMG registration scenario's `/mp:` and `/regtoken:` (runner/client.rs `cmg_env`).
    "MEMSIM_CMG_MP",
    "MEMSIM_CMG_REGTOKEN",
    "MEMSIM_CMG_REGTOKEN_ERROR",
    // Tools' own CA and proxy settings, cleared so that none of the machine's trust or routes
    // reaches a client through them (issue 13): git, pip, the AWS SDKs and CLI, Nix, cargo,
    // npm, Deno, Bundler, gRPC, websocket-client, httplib2, and FTP proxies.
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_PROXY_COMMAND",
    "PIP_CERT",
    "PIP_PROXY",
    "AWS_CA_BUNDLE",
    "NIX_SSL_CERT_FILE",
    "CARGO_HTTP_CAINFO",
    "CARGO_HTTP_PROXY",
    "NPM_CONFIG_CAFILE",
    "npm_config_cafile",
    "NPM_CONFIG_PROXY",
    "npm_config_proxy",
    "NPM_CONFIG_HTTPS_PROXY",
    "npm_config_https_proxy",
    "DENO_CERT",
    "BUNDLE_SSL_CA_CERT",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "WEBSOCKET_CLIENT_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "FTP_PROXY",
    "ftp_proxy",
];

/// The world's values, from its description: the CA bundle (and its hashed directory), the
/// proxy, the DNS server, world.json, the time scale, and the scenario's target URL when it
/// has one.
pub fn vars(world: &WorldDescription, time_scale: f64, target: Option<&str>, world_json: &Path, cert_dir: &Path) -> Vec<(&'static str, String)> {
    let ca = world.ca_bundle.display().to_string();
    let mut env: Vec<(&'static str, String)> =
        ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"].iter().map(|k| (*k, ca.clone())).collect();
    env.push(("SSL_CERT_DIR", cert_dir.display().to_string()));
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        env.push((k, world.proxy_url.clone()));
    }
    env.push(("MEMSIM_WORLD", world_json.display().to_string()));
    env.push(("MEMSIM_DNS", world.dns_addr.to_string()));
    env.push(("MEMSIM_TIME_SCALE", time_scale.to_string()));
    if let Some(target) = target {
        env.push(("MEMSIM_TARGET", target.to_string()));
    }
    env
}

/// The managed variables the world does not set: a client must see them unset.
pub fn cleared(set: &[(&'static str, String)]) -> Vec<&'static str> {
    MANAGED.iter().copied().filter(|k| !set.iter().any(|(s, _)| s == k)).collect()
}

/// A hashed certificate directory holding the world's roots (what `SSL_CERT_DIR` expects): each
/// root as `memsim-root-N.pem` and a link to it named by its OpenSSL subject hash (`HASH.0`, then
/// `.1` … for roots with the same subject), as `openssl rehash` makes them. The hashes are
/// computed here ([`crate::subject_hash`]): running openssl cost a fork and an exec before the
/// ready line. What an earlier world left in the directory is replaced.
pub async fn cert_dir(world: &World) -> std::io::Result<PathBuf> {
    let dir = world.state_dir().join("certs");
    write_cert_dir(&dir, &std::fs::read(world.ca_bundle())?)?;
    Ok(dir)
}

/// [`cert_dir`] for a PEM bundle: a handful of small files, written directly.
pub fn write_cert_dir(dir: &Path, bundle_pem: &[u8]) -> std::io::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if is_ours(&name.to_string_lossy()) {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)?,
        Err(e) => return Err(e),
    }
    let mut taken: Vec<String> = Vec::new();
    let text = String::from_utf8_lossy(bundle_pem);
    for (i, block) in text.split_inclusive("-----END CERTIFICATE-----\n").enumerate() {
        let file = format!("memsim-root-{i}.pem");
        std::fs::write(dir.join(&file), block)?;
        // A certificate that cannot be read gets no link, as `openssl rehash` skips it.
        let Some(Ok(pem)) = x509_parser::pem::Pem::iter_from_buffer(block.as_bytes()).next() else { continue };
        let Ok(hash) = crate::subject_hash::subject_hash(&pem.contents) else { continue };
        let n = taken.iter().filter(|h| **h == hash).count();
        std::os::unix::fs::symlink(&file, dir.join(format!("{hash}.{n}")))?;
        taken.push(hash);
    }
    Ok(())
}

/// A file or link [`write_cert_dir`] makes: `memsim-root-N.pem`, or a hash link `XXXXXXXX.N`.
fn is_ours(name: &str) -> bool {
    let hash_link = name
        .split_once('.')
        .is_some_and(|(h, n)| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    hash_link || (name.starts_with("memsim-root-") && name.ends_with(".pem"))
}

/// Single-quote for POSIX sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `env.sh`: `. env.sh` points a shell's clients at the world.
pub fn env_sh(scenario: &scenarios::Scenario, world: &WorldDescription, time_scale: f64, world_json: &Path, cert_dir: &Path) -> String {
    let set = vars(world, time_scale, scenario.first_target(), world_json, cert_dir);
    let mut out = format!("# memsim world `{}`: `. env.sh` points clients at it.\n", scenario.name);
    for (k, v) in &set {
        out.push_str(&format!("export {k}={}\n", sh_quote(v)));
    }
    out.push_str(&format!("unset {}\n", cleared(&set).join(" ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(cn: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    // issue 20 item 2: the hashed directory memsim writes itself (no `openssl rehash`): a link per
    // root named by its subject hash, `.1` for a second root of the same name, and what a world
    // that used the state directory before left there replaced, the user's own files kept.
    #[test]
    fn the_cert_dir_links_every_root_by_its_hash_and_replaces_an_earlier_worlds() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let (a, a_again, b) = (self_signed("Root A"), self_signed("Root A"), self_signed("Root B"));
        write_cert_dir(&certs, format!("{a}{a_again}{b}").as_bytes()).unwrap();
        std::fs::write(certs.join("mine.txt"), "kept").unwrap();
        let hash = |pem: &str| crate::subject_hash::subject_hash(&x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents).unwrap();
        let (ha, hb) = (hash(&a), hash(&b));
        let mut expected = vec![
            format!("{ha}.0"),
            format!("{ha}.1"),
            format!("{hb}.0"),
            "memsim-root-0.pem".into(),
            "memsim-root-1.pem".into(),
            "memsim-root-2.pem".into(),
            "mine.txt".into(),
        ];
        expected.sort();
        assert_eq!(listing(&certs), expected);
        assert_eq!(std::fs::read_link(certs.join(format!("{hb}.0"))).unwrap(), Path::new("memsim-root-2.pem"));
        assert_eq!(std::fs::read_to_string(certs.join(format!("{ha}.1"))).unwrap(), a_again);

        write_cert_dir(&certs, b.as_bytes()).unwrap();
        assert_eq!(listing(&certs), [format!("{hb}.0"), "memsim-root-0.pem".into(), "mine.txt".into()]);
        assert_eq!(std::fs::read_to_string(certs.join(format!("{hb}.0"))).unwrap(), b);
    }
}
