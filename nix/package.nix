# The orchestrator as a package: the `fleet` binary of the xtask crate. The
# host runs it for GitOps deploys (nix/gitops.nix).
{ lib, rustPlatform }:
let
  root = ../.;
in
rustPlatform.buildRustPackage {
  pname = "fleet";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../.cargo
      ../xtask
      ../crates
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "--package"
    "xtask"
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
