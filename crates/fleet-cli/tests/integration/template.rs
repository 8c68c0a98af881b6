//! The flake interface from another flake's side: a new flake made from the
//! template (`templates.default`, copied as `nix flake init -t` copies it)
//! deploys to the testbed with `fleet deploy`, its systems made by this
//! repository's `lib.nixosConfigurations` with `nixosModules.host` and
//! `.container`. nixpkgs is the testbed's stand-in (builtins only), which
//! builds fixture-shaped systems and records the modules each was given.

use crate::common;

use std::fs;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use common::{scratch, stderr, stdout};
use fleet_testbed::{container_profile, Testbed, HOST_PROFILE};

/// This repository's root.
fn repo() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copies a folder's files, as `nix flake init` and a flake fetch do.
fn copy_tree(from: &Utf8Path, to: &Utf8Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        match entry.file_type().unwrap().is_dir() {
            true => copy_tree(&from.join(&name), &to.join(&name)),
            false => {
                fs::copy(from.join(&name), to.join(&name)).unwrap();
            }
        }
    }
}

/// Replaces `from` (which must be there) by `to` in a file, as a user edits it.
fn edit(file: &Utf8Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`:\n{text}");
    fs::write(file, text.replace(from, to)).unwrap();
}

/// The module files a deployed system was given (the stand-in records them).
fn modules_of(testbed: &Testbed, system: &str) -> Vec<String> {
    let file = testbed.dir().join(system.trim_start_matches('/')).join("modules");
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    text.split_whitespace().map(|m| m.split_once("-source/").map_or(m, |(_, rel)| rel).to_string()).collect()
}

#[test]
fn a_new_flake_from_the_template_deploys_with_fleet_deploy() {
    let dir = scratch("template", "deploys");
    let _ = fs::remove_dir_all(&dir);
    let testbed = Testbed::start(&dir.join("target")).unwrap();

    // The user's side: `nix flake init -t fleet`, then the target and the
    // platform in nix/fleet.nix.
    let flake = dir.join("my-fleet");
    copy_tree(&repo().join("template"), &flake);
    let graph = flake.join("nix/fleet.nix");
    edit(&graph, "root@my-host.example.org", &testbed.address());
    edit(&graph, "\"x86_64-linux\"", &format!("\"{}-linux\"", std::env::consts::ARCH));

    // fleet as the flake input would fetch it: its flake.nix and what its
    // interface reads; its other inputs are not used by the interface.
    let fleet_src = dir.join("fleet");
    fs::create_dir_all(&fleet_src).unwrap();
    fs::copy(repo().join("flake.nix"), fleet_src.join("flake.nix")).unwrap();
    copy_tree(&repo().join("nix"), &fleet_src.join("nix"));
    copy_tree(&repo().join("template"), &fleet_src.join("template"));
    let nixpkgs = fleet_testbed::stand_in_nixpkgs(&dir.join("nixpkgs")).unwrap();
    let fleet_ref = format!("path:{fleet_src}");
    let mut overrides = vec![("fleet", fleet_ref.as_str()), ("nixpkgs", nixpkgs.as_str())];
    for unused in ["fleet/disko", "fleet/sops-nix", "fleet/impermanence"] {
        overrides.push((unused, nixpkgs.as_str()));
    }

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
    cmd.args(["deploy", "--flake", &format!("path:{flake}")])
        .args(["--ssh-option", &testbed.ssh_options().join(" "), "--"])
        .envs(fleet_testbed::nix_env());
    for (input, reference) in &overrides {
        cmd.args(["--override-input", input, reference]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "deploy failed:\n{}\n{}", stdout(&out), stderr(&out));

    let host = testbed.profile(HOST_PROFILE).expect("the host's profile is set");
    let web = testbed.profile(&container_profile("web")).expect("the container's profile is set");
    assert!(host.ends_with("-nixos-system-my-host-1"), "{host}");
    assert!(web.ends_with("-nixos-system-web-1"), "{web}");
    let activated: Vec<String> =
        testbed.activations().unwrap().iter().map(|a| format!("{} {}", a.node, a.path)).collect();
    assert_eq!(activated, [format!("my-host {host}"), format!("web {web}")]);

    // What lib.nixosConfigurations gave each node: the interface's module
    // for its kind, then the template's own file for it.
    assert_eq!(modules_of(&testbed, &host), ["nix/fleet-host.nix", "hosts/my-host.nix"]);
    assert_eq!(modules_of(&testbed, &web), ["nix/fleet-container.nix", "containers/web.nix"]);
}
