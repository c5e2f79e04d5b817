//! Issue 19: any client, unmodified. `memsim up`'s fixed ports, and `memsim exec`, where curl
//! and glibc's resolver reach the world with no proxy or CA variable and no `--cacert`, through
//! the namespace's resolv.conf and system trust store. These tests need root (CI is root):
//! memsim makes the namespaces, and they die with it.

use std::process::{Command, Output, Stdio};

use memsim_e2e::{clean_env, memsim_bin, read_journal, text};

const DISCOVERY: &str = "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc";

/// `memsim exec --state-dir STATE [args] -- command…` with none of the machine's CA or proxy
/// variables.
fn exec_in(state: &std::path::Path, args: &[&str], command: &[&str]) -> Output {
    let mut cmd = clean_env(Command::new(memsim_bin()));
    cmd.arg("exec").arg("--state-dir").arg(state).args(args).arg("--").args(command).stdin(Stdio::null());
    cmd.output().unwrap()
}

fn exec(args: &[&str], command: &[&str]) -> Output {
    exec_in(tempfile::tempdir().unwrap().path(), args, command)
}

fn curl_discovery(scenario: &str) -> Output {
    exec(&[scenario], &["curl", "-sS", "-m", "20", "-w", "%{http_code}", "-o", "/dev/null", DISCOVERY])
}

fn getaddrinfo(scenario: &str) -> Output {
    exec(&["--scenario", scenario], &["python3", "-c", "import socket; print(socket.getaddrinfo('EnterpriseEnrollment.contoso.com', 443)[0][4][0])"])
}

#[test]
fn curl_reaches_the_world_through_the_system_trust_store_and_resolv_conf() {
    let out = curl_discovery("healthy-discovery");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "the Discovery service answered: {}", text(&out));
}

#[test]
fn an_expired_root_fails_curl_as_on_a_real_network() {
    let out = curl_discovery("pki-expired-root");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("certificate has expired"), "{}", text(&out));
}

#[test]
fn glibc_resolves_the_enrollment_cname_chain_and_fails_without_it() {
    let out = getaddrinfo("healthy-discovery");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "127.0.0.1");
    let out = getaddrinfo("dns-enrollment-cname-missing");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    // EAI_NONAME: the resolver got NXDOMAIN (a timeout or SERVFAIL would be EAI_AGAIN).
    assert!(text(&out).contains("Name or service not known"), "{}", text(&out));
}

#[test]
fn nothing_outside_the_world_is_reachable_and_the_exit_status_is_the_commands() {
    // The host's loopback is another network: a listener there is not reached from inside.
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let probe = format!(
        "import socket, sys\n\
         for addr in [('127.0.0.1', {port}), ('198.51.100.1', 443)]:\n\
         \x20   try:\n\
         \x20       socket.create_connection(addr, timeout=5); print('reached', addr); sys.exit(1)\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', addr, e)\n\
         sys.exit(7)\n"
    );
    let out = exec(&[], &["python3", "-c", &probe]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("Network is unreachable"), "no route out: {}", text(&out));
}

#[test]
fn proxy_faults_keep_their_meaning_and_407_is_reported_not_applicable() {
    let state = tempfile::tempdir().unwrap();
    let out = exec_in(
        state.path(),
        &["--scenario", "entra-proxy-blocks-login"],
        &["curl", "-sS", "-m", "20", "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"],
    );
    assert_ne!(out.status.code(), Some(0), "the deny applies transparently: {}", text(&out));
    let journal = read_journal(state.path());
    assert!(journal.iter().any(|e| e["what"] == "deny" && e["host"] == "login.microsoftonline.com"), "{journal:?}");

    let state = tempfile::tempdir().unwrap();
    let out = exec_in(state.path(), &["--scenario", "proxy-auth-required-system"], &["curl", "-sS", "-m", "20", "-o", "/dev/null", DISCOVERY]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = read_journal(state.path());
    assert!(journal.iter().any(|e| e["what"] == "not_applicable" && e["detail"]["fault"] == "proxy.auth_required"), "{journal:?}");
}

/// This machine's mounts, and the network namespaces and processes of the unprivileged user
/// (other tests make namespaces as root meanwhile), to compare before and after.
fn machine_state() -> (String, Vec<String>, String) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let lsns = Command::new("lsns").args(["-t", "net", "-n", "-o", "NS,USER"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&lsns.stdout).lines().filter(|l| l.contains("nobody") || l.contains("65534")).map(String::from).collect();
    let ps = Command::new("ps").args(["-u", "65534", "-o", "pid=,comm="]).output().unwrap();
    (mounts, namespaces, String::from_utf8_lossy(&ps.stdout).into_owned())
}

#[test]
fn without_privileges_exec_exits_3_naming_what_is_missing_and_leaves_nothing() {
    let before = machine_state();
    let mut cmd = clean_env(Command::new("setpriv"));
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]);
    cmd.arg(memsim_bin()).args(["exec", "--", "sh", "-c", "echo ran > /dev/null"]).stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("CAP_SYS_ADMIN"), "{}", text(&out));
    assert_eq!(machine_state(), before, "no mount or namespace is left behind");
}

#[test]
fn a_fixed_port_in_use_is_bad_input_naming_the_port() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let state = tempfile::tempdir().unwrap();
    let out = clean_env(Command::new(memsim_bin()))
        .args(["up", "--state-dir", state.path().to_str().unwrap(), "--https-port", &port])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&format!("127.0.0.1:{port}")) && text(&out).contains("in use"), "{}", text(&out));
}

/// A process killed (and reaped) when the test ends, however it ends: its namespaces go with it.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The client namespace's script: its end of the veth, resolv.conf naming the world, then the
/// trust kit's install.sh over private copies of the trust store (its own mount namespace:
/// nothing reaches the machine's store), then curl with no CA option or variable.
const DEVICE: &str = r#"set -e
read go
ip link set lo up
ip addr add 10.213.0.2/30 dev v1
ip link set v1 up
tmp=$(mktemp -d)
echo "nameserver 10.213.0.1" > "$tmp/resolv.conf"
mount --bind "$tmp/resolv.conf" /etc/resolv.conf
mount -t tmpfs tmpfs /usr/local/share/ca-certificates
cp -a /etc/ssl/certs "$tmp/certs"
mount --bind "$tmp/certs" /etc/ssl/certs
cp /etc/ca-certificates.conf "$tmp/ca-certificates.conf"
mount --bind "$tmp/ca-certificates.conf" /etc/ca-certificates.conf
sh "$KIT/install.sh"
curl -sS -m 20 -w "%{http_code}" -o /dev/null https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc
"#;

// issue 19: a lab world (`--advertise`) in one namespace serves a device in another, joined by
// a veth on a private /30 made here (inside the namespaces only) and gone with them.
#[test]
fn an_advertised_world_serves_a_device_that_only_installed_the_trust_kit() {
    let state = tempfile::tempdir().unwrap();
    let kit = state.path().join("trust");
    let mut device = clean_env(Command::new("unshare"));
    device.args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c", DEVICE]).env("KIT", &kit);
    let mut device = Reaped(device.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let world_script = format!(
        "set -e; ip link set lo up; ip link add v0 type veth peer name v1 netns {}; ip addr add 10.213.0.1/30 dev v0; ip link set v0 up; exec \"$MEMSIM\" up --advertise 10.213.0.1 --scenario healthy-discovery --state-dir \"$STATE\"",
        device.0.id()
    );
    let mut world = clean_env(Command::new("unshare"));
    world.args(["--net", "--", "sh", "-c", &world_script]).env("MEMSIM", memsim_bin()).env("STATE", state.path());
    let mut world = Reaped(world.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap());
    let ready = memsim_e2e::read_line(&mut world.0);
    assert!(ready.contains("\"ready\""), "{ready}");
    for file in ["ca.cer", "install.ps1", "install.cmd", "install.sh", "README"] {
        assert!(kit.join(file).is_file(), "trust/{file}");
    }
    assert!(std::fs::read_to_string(kit.join("install.ps1")).unwrap().contains("Cert:\\LocalMachine\\Root"));
    assert!(std::fs::read_to_string(kit.join("install.cmd")).unwrap().contains("certutil -addstore Root"));
    use std::io::Write as _;
    writeln!(device.0.stdin.take().unwrap(), "go").unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut device.0.stdout.take().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut device.0.stderr.take().unwrap(), &mut err);
    let status = device.0.wait().unwrap();
    assert!(status.success() && out == "200", "device: {status} {out} {err}");
}

#[test]
fn a_public_address_is_not_advertised() {
    let out = clean_env(Command::new(memsim_bin())).args(["up", "--advertise", "8.8.8.8"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a private address"), "{}", text(&out));
}

// issue 19: `memsim run --transparent` gives every scenario's command client the namespace of
// `memsim exec`: no proxy or CA variable, and the world's own trust store and resolv.conf.
#[test]
fn run_transparent_gives_command_clients_the_world_as_their_network() {
    let client = r#"[ -z "${HTTPS_PROXY:-}${SSL_CERT_FILE:-}${CURL_CA_BUNDLE:-}" ] || exit 9; curl -sS -f -o /dev/null "$MEMSIM_TARGET""#;
    let out = clean_env(Command::new(memsim_bin()))
        .args(["run", "--transparent", "healthy-discovery", "pki-expired-root", "--", "sh", "-c", client])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 passed"), "{}", text(&out));
}
