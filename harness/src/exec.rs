//! `memsim exec -- COMMAND…` (issue 19): COMMAND, unmodified, inside a fresh network and mount
//! namespace where the world is the whole network — DNS on 127.0.0.1:53 named by
//! `/etc/resolv.conf`, ports 80/443 through the customer proxy's fault pipeline as a
//! transparent proxy, the world's CA as the system trust store — and nothing routes out.
//!
//! How: memsim re-executes itself under util-linux's `unshare --net --mount` (private mount
//! propagation, so no bind mount reaches the host). The namespaces belong to that process and
//! its children, unnamed: they vanish when the last of them exits, killed or not, and there is
//! nothing to clean up. Inside, `ip` brings loopback up and adds one veth pair with a
//! documentation address (192.0.2.1/32, RFC 5737) so `AI_ADDRCONFIG` resolvers ask DNS; there
//! is no route, so a connect to anything but the world fails. The inner memsim dies with the
//! outer one (parent-death signal), and COMMAND with the inner one (`setpriv --pdeathsig`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result};

use crate::ports::Ports;
use crate::world::{World, WorldOptions};

/// The flag the outer memsim adds when it re-executes itself inside the namespaces.
pub const INSIDE: &str = "--inside-namespace";
/// The namespace's one non-loopback address: TEST-NET-1 (RFC 5737), routed nowhere.
const ADDRESS: &str = "192.0.2.1/32";
/// Trust stores a client may read, bind-mounted over when they exist on this machine
/// (Debian's bundle lives in the hashed directory, mounted as a whole).
const BUNDLES: &[&str] = &["/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"];
const HASHED_DIR: &str = "/etc/ssl/certs";
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A tool memsim exec runs, or why it cannot.
fn tool(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` is not installed (memsim exec needs util-linux's unshare and mount and iproute2's ip)"))
}

/// The outer half: check that namespaces can be made, then run the inner half in them and
/// give COMMAND's exit status. Err: exit 3 with what is missing (nothing was made, or what was
/// made died with the probe).
pub fn outer(args: Vec<OsString>) -> Result<u8, String> {
    let unshare = tool("unshare")?;
    tool("ip")?;
    tool("mount")?;
    let ns = ["--net", "--mount", "--propagation", "private"];
    // A probe first: its namespaces die with it, and its failure is told apart from COMMAND's.
    let probe = std::process::Command::new(&unshare).args(ns).arg("true").stdin(Stdio::null()).output().map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "cannot make a network and mount namespace ({}): memsim exec needs CAP_SYS_ADMIN and CAP_NET_ADMIN — run it as root, or in a user namespace where they are allowed",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find memsim's own executable: {e}"))?;
    // The same subcommand (`exec`, `run`) again, told it is inside.
    let mut inner = vec![args.get(1).cloned().unwrap_or_else(|| OsString::from("exec")), OsString::from(INSIDE)];
    inner.extend(args.into_iter().skip(2));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut child = tokio::process::Command::new(&unshare)
            .args(ns)
            .arg("--")
            .arg(&me)
            .args(&inner)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let (mut int, mut term) = (signal(SignalKind::interrupt()).map_err(|e| e.to_string())?, signal(SignalKind::terminate()).map_err(|e| e.to_string())?);
        let pid = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32));
        loop {
            // The inner memsim stops COMMAND and its world on the signal; this one waits for it.
            let sig = tokio::select! {
                status = child.wait() => return Ok(status_code(status.map_err(|e| e.to_string())?)),
                _ = int.recv() => rustix::process::Signal::INT,
                _ = term.recv() => rustix::process::Signal::TERM,
            };
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
    })
}

/// An exit status as a shell reports it: the code, or 128 + the signal.
fn status_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.wrapping_add(s as u8),
        _ => crate::exit::HARNESS_FAILED,
    }
}

/// Run a tool inside the namespace; its failure names what it was doing.
async fn run(tool: &Path, args: &[&str], what: &str) -> Result<()> {
    let out =
        tokio::process::Command::new(tool).args(args).stdin(Stdio::null()).output().await.with_context(|| format!("{what}: cannot run {}", tool.display()))?;
    anyhow::ensure!(out.status.success(), "{what}: `{} {}` failed: {}", tool.display(), args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

/// Loopback up, one veth pair with [`ADDRESS`], no route.
async fn network(ip: &Path) -> Result<()> {
    run(ip, &["link", "set", "lo", "up"], "bring loopback up").await?;
    run(ip, &["link", "add", "memsim0", "type", "veth", "peer", "name", "memsim1"], "add a veth pair").await?;
    run(ip, &["addr", "add", ADDRESS, "dev", "memsim0"], "address the veth").await?;
    run(ip, &["link", "set", "memsim0", "up"], "bring the veth up").await?;
    run(ip, &["link", "set", "memsim1", "up"], "bring the veth up").await
}

/// resolv.conf naming the world's DNS, and the world's CA as the system trust store, bind-mounted
/// over the host's files in this mount namespace only. Gives the mount points, for [`untrust`].
pub async fn trust(world: &World) -> Result<Vec<String>> {
    let mount = tool("mount").map_err(anyhow::Error::msg)?;
    let dir = world.state_dir();
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "# memsim exec: the world's DNS is the only one\nnameserver 127.0.0.1\n").context("write resolv.conf")?;
    let certs = crate::client_env::cert_dir(world).await.context("write the hashed CA directory")?;
    std::fs::copy(world.ca_bundle(), certs.join("ca-certificates.crt")).context("write the CA bundle")?;
    let bind = |from: &Path, to: &str| {
        let (from, mount) = (from.display().to_string(), mount.clone());
        let to = to.to_string();
        async move { run(&mount, &["--bind", &from, &to], &format!("bind-mount over {to}")).await }
    };
    let mut mounted = Vec::new();
    bind(&resolv, RESOLV_CONF).await?;
    mounted.push(RESOLV_CONF.to_string());
    bind(&certs, HASHED_DIR).await?;
    mounted.push(HASHED_DIR.to_string());
    for bundle in BUNDLES.iter().filter(|b| Path::new(b).is_file()) {
        bind(world.ca_bundle(), bundle).await?;
        mounted.push(bundle.to_string());
    }
    Ok(mounted)
}

/// Undo [`trust`] (`memsim run --transparent`, before the next world's).
pub async fn untrust(mounted: Vec<String>) -> Result<()> {
    let umount = tool("umount").map_err(anyhow::Error::msg)?;
    for target in mounted.iter().rev() {
        run(&umount, &[target], &format!("unmount {target}")).await?;
    }
    Ok(())
}

/// The inside of `memsim run --transparent`: the namespace's network, once for every world.
pub async fn enter_network() -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL)).context("set the parent-death signal")?;
    network(&tool("ip").map_err(anyhow::Error::msg)?).await
}

/// The inner half, inside the namespaces: network, world, trust, then COMMAND.
pub async fn inner(scenario: scenarios::Scenario, options: WorldOptions, command: Vec<String>) -> Result<u8> {
    // Die with the outer memsim, whatever kills it.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL)).context("set the parent-death signal")?;
    let ip = tool("ip").map_err(anyhow::Error::msg)?;
    network(&ip).await?;
    let given_dir = options.state_dir.is_some();
    let mut options = WorldOptions { ports: Ports::well_known(std::net::Ipv4Addr::LOCALHOST), ..options };
    if options.state_dir.is_none() {
        options.state_dir = Some(std::env::temp_dir().join(format!("memsim-{}", std::process::id())));
    }
    let world = match World::start(&scenario, options).await {
        Ok(w) => w,
        Err(e) if e.is_bad_input() => {
            eprintln!("memsim: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
        Err(e) => return Err(e).context("start world"),
    };
    crate::up::write_state(&world).await?;
    trust(&world).await?;
    let journal = world.state_dir().join(crate::world::JOURNAL);
    let code = client(&command).await;
    let _ = std::fs::remove_file(world.state_dir().join(crate::up::WORLD_JSON));
    drop(world.shutdown(std::time::Duration::from_millis(300)).await);
    if !given_dir {
        eprintln!("memsim: journal kept at {}", journal.display());
    }
    code
}

/// COMMAND with no proxy or CA variable, in its own process group, dying with this memsim.
async fn client(command: &[String]) -> Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let (program, args) = command.split_first().context("no COMMAND given")?;
    let mut cmd = match tool("setpriv") {
        Ok(setpriv) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        }
        Err(_) => tokio::process::Command::new(program),
    };
    cmd.args(args).process_group(0);
    for var in crate::client_env::MANAGED {
        cmd.env_remove(var);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memsim: cannot run {program}: {e}");
            // The shell's codes: 127 not found, 126 not executable.
            return Ok(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    let group = crate::runner::process::Group::of(&child);
    let (mut int, mut term) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = int.recv() => return stopped(&mut child, group, 130).await,
        _ = term.recv() => return stopped(&mut child, group, 143).await,
    };
    // What COMMAND left behind in its group goes with it.
    if let Some(g) = group {
        let (_tx, mut stop) = tokio::sync::watch::channel(crate::runner::StopRequest::default());
        g.stop(&mut child, crate::runner::process::GRACE, &mut stop).await;
    }
    Ok(status_code(status))
}

async fn stopped(child: &mut tokio::process::Child, group: Option<crate::runner::process::Group>, code: u8) -> Result<u8> {
    if let Some(g) = group {
        let (_tx, mut stop) = tokio::sync::watch::channel(crate::runner::StopRequest::default());
        g.stop(child, crate::runner::process::GRACE, &mut stop).await;
    }
    Ok(code)
}
