//! What an installed `memsim` brings along (issue 18): shell completions (clap_complete) and a
//! man page (clap_mangen), both generated from the command line's own definition, so they
//! can never disagree with `memsim --help`.

/// The shells `memsim completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// The completion script for `shell`.
pub fn completions(shell: Shell, cmd: &mut clap::Command) -> String {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, "memsim", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The man page, in roff: memsim(1) with every subcommand's options in one page.
pub fn man(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let cmd = cmd.name("memsim");
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    // clap_mangen renders one command; the subcommands follow as sections of the same page,
    // each with its own options, so `man memsim` alone documents `memsim run --partition`.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("memsim {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
    }
    Ok(out)
}
