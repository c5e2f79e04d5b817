//! The container image (issue 18): `harness/Dockerfile` builds from the repository root with
//! whichever builder this machine has (docker, podman, buildah) and its image runs `memsim` as
//! a non-root user. Where no builder works, the test says so and skips.

use std::path::Path;
use std::process::Command;

/// The first builder that answers: docker or podman (which can also run the image), or
/// buildah (build only).
fn builder() -> Option<&'static str> {
    let works = |cmd: &str, args: &[&str]| Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success());
    [("docker", "info"), ("podman", "info"), ("buildah", "version")].into_iter().find(|(cmd, probe)| works(cmd, &[probe])).map(|(cmd, _)| cmd)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn the_image_builds_and_runs_memsim_as_a_non_root_user() {
    let Some(builder) = builder() else {
        println!("SKIPPED: no container builder works here (docker info, podman info and buildah version all failed): harness/Dockerfile was not built");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tag = format!("memsim-test:{}", std::process::id());
    let build = if builder == "buildah" { "bud" } else { "build" };
    run(Command::new(builder).args([build, "-f", "harness/Dockerfile", "-t", &tag, "."]).current_dir(&root));
    if builder == "buildah" {
        println!("built {tag} with buildah; buildah cannot run it, so only the build was checked");
        let _ = Command::new(builder).args(["rmi", &tag]).output();
        return;
    }
    let user = run(Command::new(builder).args(["image", "inspect", "--format", "{{.Config.User}}", &tag]));
    assert_eq!(user.trim(), "memsim", "the image runs as its own user");
    let version = run(Command::new(builder).args(["run", "--rm", &tag, "--version"]));
    assert!(version.starts_with("memsim "), "{version}");
    let run_one = run(Command::new(builder).args(["run", "--rm", &tag, "run", "healthy-discovery"]));
    assert!(run_one.contains("1 passed, 0 failed"), "{run_one}");
    let _ = Command::new(builder).args(["rmi", &tag]).output();
}
