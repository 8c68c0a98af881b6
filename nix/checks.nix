# The offline checks as flake checks, for `nix flake check` on any system.
# The pure Nix test files are asserted at evaluation time; the daemon and
# deploy-script tests run in the build sandbox (loopback only). The parse and
# tracked-secrets checks need the git work tree, so only scripts/checks/all.sh
# runs them.
{ pkgs, lib }:
let
  # Every case of a Nix test file must hold.
  evalCases =
    name: file:
    let
      cases = import file { };
      failed = builtins.filter (case: !case.ok) cases;
    in
    if failed == [ ] then
      pkgs.writeText "check-${name}" "${toString (builtins.length cases)} cases passed\n"
    else
      throw "check ${name} failed: ${builtins.toJSON failed}";

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../scripts
      ../nix
    ];
  };

  shellCheck =
    name: env:
    pkgs.runCommand "check-${name}"
      (
        {
          nativeBuildInputs = with pkgs; [
            git
            openssl
            curl
            python3
            webhook
            util-linux
            jq
          ];
        }
        // env
      )
      ''
        set -o pipefail
        export HOME=$TMPDIR
        cp -r ${src} src
        chmod -R u+w src
        bash src/scripts/checks/${name}.sh | tee $out
      '';
in
{
  fleet = evalCases "fleet" ../scripts/checks/fleet-test.nix;
  mk-container = evalCases "mk-container" ../scripts/checks/mk-container-test.nix;
  from-graph = evalCases "from-graph" ../scripts/checks/from-graph-test.nix;
  flake = evalCases "flake" ../scripts/checks/flake-test.nix;
  webhook = shellCheck "webhook" {
    WEBHOOK_HOOKS_FILE = pkgs.writeText "hooks.json" (
      import ../scripts/checks/webhook-hooks.nix { executeCommand = "@EXECUTE_COMMAND@"; }
    );
  };
  deploy-script = shellCheck "deploy-script" { };
}
