//! `memsim token`: BulkRegistrationTokenTool.exe against a running world (seed 004), and the
//! console's list / block / unblock of bulk registration tokens — through the world's
//! token-guarded loopback control endpoint (`control.rs`), as `memsim revoke` is.
//!
//! `new` prints what the tool prints — the GUID the site tracks the token by, its validity
//! period, and the token — in memsim's own wording (the tool's exact text is not public); the
//! token is the last line, alone, for scripts. `/lifetime` is checked as the tool checks it:
//! minutes, 1 to 10080 (tokens.toml), default 4320; a larger value is bad input (exit 2) and
//! names the maximum. `inspect` decodes a token offline and names precisely what does not decode.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use mock_cloud::services::cmg::tokens::{self, log_time};

use crate::control_cli::{say, with_world};
use crate::exit;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bulk registration token (BulkRegistrationTokenTool.exe /new [/lifetime MINUTES]).
    New {
        /// Validity in minutes, 1 to 10080 (default 4320: three days).
        #[arg(long, value_name = "MINUTES")]
        lifetime: Option<String>,
        /// The world.json of a running world (`memsim up --state-dir D` writes D/world.json), or D.
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// List the site's bulk registration tokens: GUID, validity, blocked.
    List {
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// Block a bulk registration token by its GUID (the console's Block).
    Block {
        guid: String,
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// Unblock a blocked bulk registration token.
    Unblock {
        guid: String,
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// Decode a token offline: header, claims, validity; what does not decode, precisely.
    Inspect { token: String },
}

pub fn run(command: TokenCommand, catalog: &mock_cloud::Catalog) -> Result<u8> {
    let limits = &catalog.tokens.bulk_registration;
    match command {
        TokenCommand::Inspect { token } => inspect(&token),
        TokenCommand::New { lifetime, world } => {
            let lifetime = match lifetime.map(|l| l.trim().parse::<u32>().map_err(|_| l)) {
                None => None,
                Some(Ok(m)) if (1..=limits.max_lifetime_minutes).contains(&m) => Some(m),
                Some(Ok(m)) => {
                    let max = limits.max_lifetime_minutes;
                    eprintln!("memsim: The lifetime {m} is not valid: specify a lifetime in minutes from 1 to {max}. The maximum is {max} minutes (7 days).");
                    return Ok(exit::BAD_INPUT);
                }
                Some(Err(l)) => {
                    eprintln!("memsim: `{l}` is not a lifetime: give whole minutes from 1 to {}, e.g. --lifetime 4320", limits.max_lifetime_minutes);
                    return Ok(exit::BAD_INPUT);
                }
            };
            with_world(
                &world,
                |c| async move { c.new_token(lifetime).await },
                |v| {
                    say("Bulk registration token created (memsim's BulkRegistrationTokenTool.exe /new).")?;
                    say(&format!("Token GUID: {}", v["id"].as_str().unwrap_or("?")))?;
                    say(&format!(
                        "Valid from {} to {} (UTC): {} minutes. Copy the token now: the site keeps only its GUID.",
                        log_time(v["nbf"].as_i64().unwrap_or_default()),
                        log_time(v["exp"].as_i64().unwrap_or_default()),
                        v["lifetime_minutes"]
                    ))?;
                    say(v["token"].as_str().unwrap_or_default())
                },
            )
        }
        TokenCommand::List { world } => with_world(
            &world,
            |c| async move { c.tokens().await },
            |v| {
                let all = v["tokens"].as_array().cloned().unwrap_or_default();
                say("GUID                                  Valid from (UTC)     Valid to (UTC)       Minutes  Blocked")?;
                for t in all {
                    say(&format!(
                        "{:<37} {:<20} {:<20} {:<8} {}",
                        t["id"].as_str().unwrap_or("?"),
                        log_time(t["nbf"].as_i64().unwrap_or_default()),
                        log_time(t["exp"].as_i64().unwrap_or_default()),
                        t["lifetime_minutes"],
                        if t["blocked"].as_bool() == Some(true) { "yes" } else { "no" }
                    ))?;
                }
                Ok(())
            },
        ),
        TokenCommand::Block { guid, world } | TokenCommand::Unblock { guid, world } if !tokens::is_guid(guid.trim().trim_matches(['{', '}'])) => {
            eprintln!("memsim: `{guid}` is not a token GUID (`memsim token list --world {}` shows them)", world.display());
            Ok(exit::BAD_INPUT)
        }
        TokenCommand::Block { guid, world } => block(&world, guid, true),
        TokenCommand::Unblock { guid, world } => block(&world, guid, false),
    }
}

fn block(world: &Path, guid: String, blocked: bool) -> Result<u8> {
    let id = guid.trim().trim_matches(['{', '}']).to_ascii_lowercase();
    with_world(
        world,
        |c| async move { c.block_token(&id, blocked).await },
        |v| {
            say(&format!(
                "Bulk registration token {} is {}.",
                v["id"].as_str().unwrap_or("?"),
                if blocked { "blocked: registrations with it are refused from now on" } else { "unblocked" }
            ))
        },
    )
}

/// `memsim token inspect`: header and claims as JSON, then the validity in words.
fn inspect(token: &str) -> Result<u8> {
    match tokens::decode(token) {
        Ok((header, claims)) => {
            say(&serde_json::to_string_pretty(&serde_json::json!({"header": header, "claims": claims}))?)?;
            let (nbf, exp) = (claims["nbf"].as_i64(), claims["exp"].as_i64());
            if let (Some(nbf), Some(exp)) = (nbf, exp) {
                say(&format!("Valid from {} to {} (UTC): {} minutes.", log_time(nbf), log_time(exp), (exp - nbf) / 60))?;
            }
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("memsim: {e}");
            Ok(exit::BAD_INPUT)
        }
    }
}
