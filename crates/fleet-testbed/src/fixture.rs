//! The fixture flake: a fleet shaped like the real one, built from builtins
//! only, with knobs that tests turn (versions, extra packages, failures).

use std::collections::BTreeMap;
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Map, Value};

use crate::TestbedError;

/// The fixture's host node, named like the real one.
pub const FIXTURE_HOST: &str = "vps-arm";

/// An evaluation cost ([`Fixture::set_eval_cost`]) of about 1 s and 400 MB
/// per node, as a NixOS system costs to evaluate.
pub const EVAL_COST_ONE_SECOND: u64 = 1_000_000;

/// The fixture's containers with their dependencies, named like the real ones.
pub const FIXTURE_CONTAINERS: &[(&str, &[&str])] =
    &[("bgs-backend", &[]), ("nannuo-bot", &["bgs-backend"]), ("test-container", &[])];

const FLAKE: &str = include_str!("fixture/flake.nix");
const PACKAGE_BUILDER: &str = include_str!("fixture/package.sh");
pub(crate) const TOPLEVEL_BUILDER: &str = include_str!("fixture/toplevel.sh");
const CONTAINER_UNIT: &str = include_str!("fixture/container-unit.nix");
const CONTAINER_START: &str = include_str!("fixture/container-start.sh");
const SWITCH_UNITS: &str = include_str!("fixture/switch-units.sh");
/// The repository's mkContainer, so that the fixture host's container units
/// are what the real host's are made from.
const MK_CONTAINER: &str = include_str!("../../../nix/mk-container.nix");
const PATHS: &str = include_str!("../../../nix/paths.nix");
const UNIT_RECORD: &str = include_str!("../../fleet-deploy/src/sh/unit-record.sh");

/// Containers of a fixture host: (name, the names it depends on).
pub type Containers<'a> = &'a [(&'a str, &'a [&'a str])];

/// One host of a fixture, with its containers.
#[derive(Debug, Clone)]
struct FixtureHost {
    name: String,
    target: String,
    containers: Vec<(String, Vec<String>)>,
}

/// A fixture flake on disk.
#[derive(Debug, Clone)]
pub struct Fixture {
    dir: Utf8PathBuf,
    hosts: Vec<FixtureHost>,
    /// Extra Nix attribute definitions per node, for `nix/fleet.nix`.
    extra: BTreeMap<String, String>,
    /// Each node's `tags` in `nix/fleet.nix`.
    tags: BTreeMap<String, Vec<String>>,
    knobs: Map<String, Value>,
}

impl Fixture {
    /// Writes the standard fixture (one host, [`FIXTURE_CONTAINERS`]) into `dir`,
    /// with the host deployed to `target` (`USER@HOST:PORT`).
    pub fn create(dir: &Utf8Path, target: &str) -> Result<Fixture, TestbedError> {
        Fixture::create_with(dir, target, FIXTURE_CONTAINERS)
    }

    /// Writes a fixture with the given containers (name, dependencies) on one host.
    pub fn create_with(
        dir: &Utf8Path,
        target: &str,
        containers: &[(&str, &[&str])],
    ) -> Result<Fixture, TestbedError> {
        Fixture::create_hosts(dir, &[(FIXTURE_HOST, target, containers)])
    }

    /// Writes a fixture with several hosts: (host name, target, containers).
    pub fn create_hosts(
        dir: &Utf8Path,
        hosts: &[(&str, &str, Containers<'_>)],
    ) -> Result<Fixture, TestbedError> {
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().expect("fixture files are in folders"))
                .and_then(|()| fs::write(&path, text))
                .map_err(|e| TestbedError::new(format!("write {path}"), e))
        };
        write("flake.nix", FLAKE)?;
        write("package.sh", PACKAGE_BUILDER)?;
        write("toplevel.sh", TOPLEVEL_BUILDER)?;
        write("container-unit.nix", CONTAINER_UNIT)?;
        write("container-start.sh", CONTAINER_START)?;
        write("switch-units.sh", SWITCH_UNITS)?;
        write("nix/mk-container.nix", MK_CONTAINER)?;
        write("nix/paths.nix", PATHS)?;
        write("crates/fleet-deploy/src/sh/unit-record.sh", UNIT_RECORD)?;
        let fixture = Fixture {
            dir: dir.to_path_buf(),
            hosts: hosts
                .iter()
                .map(|(host, target, containers)| {
                    let containers = containers
                        .iter()
                        .map(|(name, deps)| (name.to_string(), deps.iter().map(|d| d.to_string()).collect()))
                        .collect();
                    FixtureHost { name: host.to_string(), target: target.to_string(), containers }
                })
                .collect(),
            extra: BTreeMap::new(),
            tags: BTreeMap::new(),
            knobs: Map::new(),
        };
        fixture.write_fleet()?;
        fixture.save()?;
        Ok(fixture)
    }

    /// The flake reference to deploy from.
    pub fn flake_ref(&self) -> String {
        format!("path:{}", self.dir)
    }

    /// Commits the fixture as it is now to a git repository in its folder (made
    /// on first use) and returns the flake reference of that clean tree,
    /// `git+file://DIR`.
    pub fn commit(&self) -> Result<String, TestbedError> {
        let git = |args: &[&str]| -> Result<(), TestbedError> {
            let step = || format!("run git {} in {}", args.join(" "), self.dir);
            let out = std::process::Command::new("git")
                .args(["-c", "user.name=fleet testbed", "-c", "user.email=testbed@fleet.invalid"])
                .args(args)
                .current_dir(&self.dir)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| TestbedError::new(step(), e))?;
            match out.status.success() {
                true => Ok(()),
                false => {
                    Err(TestbedError::new(step(), String::from_utf8_lossy(&out.stderr).trim().to_string()))
                }
            }
        };
        if !self.dir.join(".git").exists() {
            git(&["init", "--quiet"])?;
        }
        git(&["add", "--all"])?;
        git(&["commit", "--quiet", "--allow-empty", "--message", "fixture"])?;
        Ok(format!("git+file://{}", self.dir))
    }

    /// The fixture's folder.
    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// Sets a node's system version (it appears in the store path name).
    pub fn set_version(&mut self, node: &str, version: &str) -> Result<(), TestbedError> {
        self.set(node, "version", json!(version))
    }

    /// Adds a package (`name-version`) to a node's closure.
    pub fn add_package(&mut self, node: &str, name_version: &str) -> Result<(), TestbedError> {
        let knob = self.node_knobs(node);
        let packages = knob.entry("packages").or_insert_with(|| json!([]));
        packages.as_array_mut().expect("packages is a list").push(json!(name_version));
        self.save()
    }

    /// Gives a node's system a kernel (`$out/kernel`, a store path
    /// `linux-VERSION` of its own), as a NixOS system has; without it the
    /// system has none.
    pub fn set_kernel(&mut self, node: &str, version: &str) -> Result<(), TestbedError> {
        self.set(node, "kernel", json!(version))
    }

    /// Makes a node's build fail (or succeed again).
    pub fn fail_build(&mut self, node: &str, fail: bool) -> Result<(), TestbedError> {
        self.set(node, "failBuild", json!(fail))
    }

    /// Makes a node's `switch-to-configuration` fail (or succeed again).
    pub fn fail_switch(&mut self, node: &str, fail: bool) -> Result<(), TestbedError> {
        self.set(node, "failSwitch", json!(fail))
    }

    /// Makes a node's `switch-to-configuration` take `seconds`.
    pub fn set_switch_seconds(&mut self, node: &str, seconds: u32) -> Result<(), TestbedError> {
        self.set(node, "switchSeconds", json!(seconds))
    }

    /// Builds the node without `nixos-version`: a store path that is not a system.
    pub fn make_not_a_system(&mut self, node: &str) -> Result<(), TestbedError> {
        self.set(node, "notASystem", json!(true))
    }

    /// Makes the node's switch stop the target's sshd, as a configuration that
    /// breaks SSH would: open sessions go on, new connections are refused.
    pub fn break_ssh_on_switch(&mut self, node: &str) -> Result<(), TestbedError> {
        self.set(node, "breakSsh", json!(true))
    }

    /// Adds Nix attribute definitions (e.g. `checkTimeout = 2;`) to a node in
    /// the fixture's graph data.
    pub fn set_node_attrs(&mut self, node: &str, nix: &str) -> Result<(), TestbedError> {
        self.extra.insert(node.to_string(), nix.to_string());
        self.write_fleet()
    }

    /// The store path a node's system builds to, as the flake evaluates it now
    /// (nothing is built).
    pub fn system_path(&self, node: &str) -> Result<String, TestbedError> {
        let attribute =
            format!("{}#nixosConfigurations.{node}.config.system.build.toplevel.outPath", self.flake_ref());
        let step = || format!("evaluate {attribute}");
        let out = std::process::Command::new("nix")
            .args(["--extra-experimental-features", "nix-command flakes", "eval", "--raw", &attribute])
            .envs(crate::nix_env())
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| TestbedError::new(step(), e))?;
        if !out.status.success() {
            return Err(TestbedError::new(step(), String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        String::from_utf8(out.stdout).map_err(|_| TestbedError::new(step(), "not UTF-8"))
    }

    /// Makes evaluating a node's system cost what a NixOS system's does:
    /// building and forcing a list of `elements` strings
    /// ([`EVAL_COST_ONE_SECOND`] is about 1 s and 400 MB).
    pub fn set_eval_cost(&mut self, node: &str, elements: u64) -> Result<(), TestbedError> {
        self.set(node, "evalCost", json!(elements))
    }

    /// Makes evaluating a node's system print `bytes` (rounded down to KiB) of
    /// `builtins.trace` on stderr, as a noisy evaluation does.
    pub fn set_eval_trace(&mut self, node: &str, bytes: u64) -> Result<(), TestbedError> {
        self.set(node, "evalTrace", json!(bytes))
    }

    /// Puts what the flake says of itself (`self.rev`, `self.lastModified`,
    /// `self.narHash`, ...) in a node's system, as a NixOS system's
    /// `configurationRevision` does.
    pub fn set_flake_revision(&mut self, node: &str) -> Result<(), TestbedError> {
        self.set(node, "flakeRevision", json!(true))
    }

    /// Sets a node's `tags` in the fixture's graph data (none: no `tags`).
    pub fn set_tags(&mut self, node: &str, tags: &[&str]) -> Result<(), TestbedError> {
        self.tags.insert(node.to_string(), tags.iter().map(|t| t.to_string()).collect());
        self.write_fleet()
    }

    /// Changes a container's host-side unit (`container@NAME.service` and
    /// its `.conf` in its host's system) to `revision`, as a nixpkgs bump or
    /// a changed bind mount does; its own system stays as it is.
    pub fn set_unit_revision(&mut self, container: &str, revision: u32) -> Result<(), TestbedError> {
        self.set(container, "unitRevision", json!(revision))
    }

    /// Changes only the `ExecReload` of a container's host-side unit to
    /// `revision` (the fixture's units on the systemd testbed).
    pub fn set_reload_revision(&mut self, container: &str, revision: u32) -> Result<(), TestbedError> {
        self.set(container, "reloadRevision", json!(revision))
    }

    /// Makes a node's build wait until `file` exists (at most 60 s, then it
    /// fails), so that a test decides when it ends.
    pub fn gate_build(&mut self, node: &str, file: &Utf8Path) -> Result<(), TestbedError> {
        self.set(node, "buildGate", json!(file.as_str()))
    }

    /// Makes a node's build take `seconds` (a sleeping builder).
    pub fn set_build_seconds(&mut self, node: &str, seconds: u32) -> Result<(), TestbedError> {
        self.set(node, "buildSeconds", json!(seconds))
    }

    /// Sets the knob `key` (as `fixture/flake.nix` reads it) to `value` for
    /// every node of `nodes` at once, written once: a fleet of thousands of
    /// nodes is set up in one write, not one per node.
    pub fn set_all(&mut self, nodes: &[&str], key: &str, value: Value) -> Result<(), TestbedError> {
        for node in nodes {
            self.node_knobs(node).insert(key.to_string(), value.clone());
        }
        self.save()
    }

    fn set(&mut self, node: &str, key: &str, value: Value) -> Result<(), TestbedError> {
        self.node_knobs(node).insert(key.to_string(), value);
        self.save()
    }

    fn node_knobs(&mut self, node: &str) -> &mut Map<String, Value> {
        self.knobs
            .entry(node.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("node knobs are objects")
    }

    fn write_fleet(&self) -> Result<(), TestbedError> {
        let path = self.dir.join("nix/fleet.nix");
        fs::create_dir_all(self.dir.join("nix"))
            .and_then(|()| fs::write(&path, fleet_nix(self)))
            .map_err(|e| TestbedError::new(format!("write {path}"), e))
    }

    fn save(&self) -> Result<(), TestbedError> {
        let system = format!("{}-linux", std::env::consts::ARCH);
        let text = serde_json::to_string_pretty(&json!({ "system": system, "nodes": self.knobs }))
            .expect("knobs serialise");
        let path = self.dir.join("fixture.json");
        fs::write(&path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))
    }
}

/// The fixture's graph data as Nix text.
fn fleet_nix(fixture: &Fixture) -> String {
    let extra = |node: &str| {
        let tags = match fixture.tags.get(node) {
            Some(tags) if !tags.is_empty() => {
                let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
                format!("      tags = [ {} ];\n", tags.join(" "))
            }
            _ => String::new(),
        };
        let attrs = fixture.extra.get(node).map(|e| format!("      {e}\n")).unwrap_or_default();
        format!("{tags}{attrs}")
    };
    let mut text =
        String::from("# Generated by the testbed: the fixture fleet's graph data.\n{\n  nodes = {\n");
    for (h, FixtureHost { name: host, target, containers }) in fixture.hosts.iter().enumerate() {
        text.push_str(&format!(
            "    {host} = {{\n      kind = \"host\";\n      target = \"{target}\";\n      bridge = {{ name = \"br0\"; address = \"10.{}.0.1\"; prefixLength = 16; }};\n{}    }};\n",
            233 - h,
            extra(host)
        ));
        for (i, (name, deps)) in containers.iter().enumerate() {
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
            text.push_str(&format!(
                "    {name} = {{\n      kind = \"container\";\n      host = \"{host}\";\n      address = \"10.{}.{}.{}\";\n      dependsOn = [ {} ];\n{}    }};\n",
                233 - h,
                i / 200,
                10 + i % 200,
                deps.join(" "),
                extra(name)
            ));
        }
    }
    text.push_str("  };\n}\n");
    text
}
