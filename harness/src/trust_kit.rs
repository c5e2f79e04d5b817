//! The trust kit of a lab world (`memsim up --advertise`, issue 19): what a real device in a
//! training room needs to trust the world's CAs, and to stop trusting them afterwards. Written
//! into `STATE/trust/`: one DER file per root (`ca.cer`, `ca-2.cer` …: what Windows'
//! `Import-Certificate` and `certutil` take), `install.ps1`, `install.cmd`, `install.sh`
//! (Debian's `update-ca-certificates`, RHEL's `update-ca-trust`) and a README. Each root carries
//! critical name constraints (RFC 5280 §4.2.1.10) limited to the emulated names, so a device
//! that trusts it trusts it for nothing else.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// A root of the kit: its file name, DER, SHA-1 thumbprint (what Windows lists) and subject.
struct Root {
    file: String,
    der: Vec<u8>,
    thumbprint: String,
    subject: String,
}

fn roots(bundle_pem: &str) -> Vec<Root> {
    CertificateDer::pem_slice_iter(bundle_pem.as_bytes())
        .flatten()
        .enumerate()
        .map(|(i, der)| {
            let file = if i == 0 { "ca.cer".to_string() } else { format!("ca-{}.cer", i + 1) };
            let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
            let thumbprint = digest.as_ref().iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02X}");
                s
            });
            let subject = x509_parser::parse_x509_certificate(&der).map(|(_, c)| c.subject().to_string()).unwrap_or_default();
            Root { file, der: der.to_vec(), thumbprint, subject }
        })
        .collect()
}

/// Write the kit for the roots of `bundle_pem` into `state/trust`; `permitted`: the DNS
/// subtrees the roots are constrained to, `advertise`: the address devices use as DNS.
pub fn write(state: &Path, bundle_pem: &str, permitted: &[String], advertise: std::net::Ipv4Addr) -> std::io::Result<PathBuf> {
    let dir = state.join("trust");
    std::fs::create_dir_all(&dir)?;
    let roots = roots(bundle_pem);
    for r in &roots {
        std::fs::write(dir.join(&r.file), &r.der)?;
    }
    std::fs::write(dir.join("install.ps1"), ps1(&roots))?;
    std::fs::write(dir.join("install.cmd"), cmd(&roots))?;
    std::fs::write(dir.join("install.sh"), sh(&roots))?;
    std::fs::write(dir.join("README"), readme(&roots, permitted, advertise))?;
    Ok(dir)
}

fn ps1(roots: &[Root]) -> String {
    let mut s = String::from(
        "# memsim lab CA: trust it on this machine (run as Administrator).\n\
         # Remove it again: .\\install.ps1 -Remove\n\
         param([switch]$Remove)\n",
    );
    let prints: Vec<String> = roots.iter().map(|r| format!("'{}'", r.thumbprint)).collect();
    let _ = writeln!(s, "$thumbprints = @({})", prints.join(", "));
    s.push_str(
        "if ($Remove) {\n  Get-ChildItem Cert:\\LocalMachine\\Root | Where-Object { $thumbprints -contains $_.Thumbprint } | Remove-Item\n  return\n}\n",
    );
    for r in roots {
        let _ = writeln!(s, "Import-Certificate -FilePath (Join-Path $PSScriptRoot '{}') -CertStoreLocation Cert:\\LocalMachine\\Root", r.file);
    }
    s
}

fn cmd(roots: &[Root]) -> String {
    let mut s =
        String::from("@echo off\r\nrem memsim lab CA: trust it on this machine (run as Administrator).\r\nrem Remove it again: install.cmd /remove\r\n");
    s.push_str("if /i \"%1\"==\"/remove\" goto remove\r\n");
    for r in roots {
        let _ = write!(s, "certutil -addstore Root \"%~dp0{}\"\r\n", r.file);
    }
    s.push_str("goto :eof\r\n:remove\r\n");
    for r in roots {
        let _ = write!(s, "certutil -delstore Root {}\r\n", r.thumbprint);
    }
    s
}

fn sh(roots: &[Root]) -> String {
    let files: Vec<&str> = roots.iter().map(|r| r.file.as_str()).collect();
    format!(
        r#"#!/bin/sh
# memsim lab CA: trust it on this machine (Debian/Ubuntu or RHEL/Fedora), as root.
# Remove it again: sh install.sh --remove
set -eu
here=$(cd "$(dirname "$0")" && pwd)
files="{files}"
if [ -d /usr/local/share/ca-certificates ] && command -v update-ca-certificates >/dev/null; then
    dest=/usr/local/share/ca-certificates; update="update-ca-certificates --fresh"
elif [ -d /etc/pki/ca-trust/source/anchors ] && command -v update-ca-trust >/dev/null; then
    dest=/etc/pki/ca-trust/source/anchors; update="update-ca-trust extract"
else
    echo "install.sh: neither update-ca-certificates (Debian) nor update-ca-trust (RHEL) found" >&2; exit 1
fi
for f in $files; do
    target="$dest/memsim-lab-${{f%.cer}}.crt"
    if [ "${{1:-}}" = "--remove" ]; then rm -f "$target"; else openssl x509 -inform DER -in "$here/$f" -out "$target"; fi
done
$update >/dev/null
"#,
        files = files.join(" ")
    )
}

fn readme(roots: &[Root], permitted: &[String], advertise: std::net::Ipv4Addr) -> String {
    let mut s = format!(
        "memsim lab trust kit\n====================\n\n\
         Devices reach this world by using {advertise} as their DNS server; it answers every emulated\n\
         name with {advertise} and serves them there on ports 53, 80 and 443. For HTTPS they must\n\
         trust the world's roots, the files below, which this kit installs into the machine's\n\
         trusted root store:\n\n\
         - Windows (PowerShell, as Administrator): .\\install.ps1       remove: .\\install.ps1 -Remove\n\
         - Windows (cmd, as Administrator):        install.cmd         remove: install.cmd /remove\n\
         - Linux (Debian or RHEL, as root):        sh install.sh       remove: sh install.sh --remove\n\n\
         Roots (SHA-1 thumbprints, as certmgr.msc shows them):\n"
    );
    for r in roots {
        let _ = writeln!(s, "  {}  {}  {}", r.file, r.thumbprint, r.subject);
    }
    s.push_str(
        "\nWhy this is safe to install on a lab machine: every root carries critical X.509 name\n\
         constraints (RFC 5280 section 4.2.1.10) that permit only the names below. A certificate\n\
         it issues for any other name is rejected by Windows, OpenSSL, NSS and every conforming\n\
         verifier, so the lab CA cannot vouch for your bank, your mail or anything else. The\n\
         private keys exist only in memory of the memsim process and are regenerated for every\n\
         world: they vanish when it stops. Still, remove the roots when the lab is over (above):\n\
         they carry real product names and a later world has new keys anyway.\n\nPermitted DNS subtrees:\n",
    );
    for p in permitted {
        let _ = writeln!(s, "  {p}");
    }
    s
}

/// `--advertise`: an address on a network the user owns — loopback, RFC 1918 private ranges
/// or link-local — never a public one, so that memsim never answers for Microsoft's real names
/// on a network it does not own.
pub fn check_advertise(ip: std::net::IpAddr) -> Result<std::net::Ipv4Addr, String> {
    match ip {
        std::net::IpAddr::V4(v4) if v4.is_loopback() || v4.is_private() || v4.is_link_local() => Ok(v4),
        _ => Err(format!(
            "--advertise {ip}: refused, not a private address. memsim answers DNS for Microsoft's real names with this address, so it only advertises on a network you own: loopback (127.0.0.0/8), a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or link-local (169.254.0.0/16)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 19: a public address is refused, a private one taken.
    #[test]
    fn only_private_addresses_are_advertised() {
        for ok in ["10.213.0.1", "172.16.5.4", "192.168.1.10", "169.254.3.3", "127.0.0.1"] {
            assert!(check_advertise(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["8.8.8.8", "172.32.0.1", "100.64.0.1", "::1", "fd00::1"] {
            assert!(check_advertise(bad.parse().unwrap()).unwrap_err().contains("not a private address"), "{bad}");
        }
    }
}
