# The orchestrator as a package: the `fleet` binary of the fleet-cli crate. The
# host runs it for GitOps deploys (nix/gitops.nix).
{ lib, rustPlatform }:
let
  root = ../.;
in
rustPlatform.buildRustPackage {
  pname = "fleet";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  # What `cargo build --package fleet-cli` reads. xtask and fleet-testbed are
  # here only because cargo loads every workspace member's manifest and
  # targets (and the testbed is a dev-dependency) to resolve Cargo.lock; they
  # are not compiled, and the scripts the testbed embeds are left out.
  # .ci/run builds the fleet binary from exactly this list.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../.cargo
      ../crates/fleet-cli
      ../crates/fleet-deploy
      ../crates/fleet-diff
      ../crates/fleet-graph
      ../crates/fleet-nix
      ../crates/fleet-report
      ../crates/fleet-testbed/Cargo.toml
      ../crates/fleet-testbed/src/lib.rs
      ../xtask/Cargo.toml
      ../xtask/src/main.rs
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "--package"
    "fleet-cli"
  ];
  # The workspace's tests drive nix, git, sshd and the webhook daemon; CI runs
  # them with `cargo test` outside the build sandbox.
  doCheck = false;
  meta = {
    description = "Builds, diffs and deploys a NixOS host and its containers in graph order";
    mainProgram = "fleet";
    license = lib.licenses.mit;
  };
}
