# Evaluates nix/mk-container.nix (and nix/container-key.nix) for every container of nix/fleet.nix, with
# builtins only (no nixpkgs), and checks each field ARCHITECTURE.md asks for.
# Returns a list of { name; ok; detail; } like fleet-test.nix.
{
  fleet ? import ../../nix/fleet.nix,
}:
let
  paths = import ../../nix/paths.nix;
  mkContainer = import ../../nix/mk-container.nix;
  inherit (builtins) attrNames concatMap filter;

  case = name: ok: detail: { inherit name ok detail; };
  show = builtins.toJSON;

  containers = filter (n: fleet.nodes.${n}.kind == "container") (attrNames fleet.nodes);

  casesFor =
    name:
    let
      node = fleet.nodes.${name};
      hostNode = fleet.nodes.${node.host};
      out = mkContainer { inherit name node hostNode; };
      c = out.containers.${name};
      unit = out.systemd.services."container@${name}";
      keyMount =
        (import ../../nix/container-key.nix {
          inherit fleet;
          nodeName = node.host;
        }).containers.${name}.bindMounts.${paths.containerKey} or null;
      depUnits = map (d: "container@${d}.service") node.dependsOn;
    in
    [
      (case "${name}: declares exactly containers.${name} and its unit" (
        attrNames out == [ "containers" "systemd" ]
        && attrNames out.containers == [ name ]
        && attrNames out.systemd.services == [ "container@${name}" ]
      ) (show (attrNames out)))
      (case "${name}: host key bind-mounted read-only at ${paths.containerKey} (nix/container-key.nix)" (
        keyMount == {
          hostPath = "/persistent/etc/ssh/ssh_host_ed25519_key";
          isReadOnly = true;
        }
      ) (show keyMount))
      (case "${name}: mkContainer mounts nothing, so any host can run it" (!(c ? bindMounts)) (
        show (c.bindMounts or null)
      ))
      (case "${name}: bridged on ${hostNode.bridge.name}" (
        c.hostBridge == hostNode.bridge.name && c.hostBridge == "br0"
      ) (show c.hostBridge))
      (case "${name}: privateNetwork" (c.privateNetwork == true) (show c.privateNetwork))
      (case "${name}: localAddress carries the bridge prefix" (
        c.localAddress == "${node.address}/${toString hostNode.bridge.prefixLength}"
      ) (show c.localAddress))
      (case "${name}: path is the string /nix/var/nix/profiles/system" (
        builtins.isString c.path && c.path == "/nix/var/nix/profiles/system"
      ) (builtins.typeOf c.path))
      (case "${name}: autoStart" (c.autoStart == true) (show c.autoStart))
      (case "${name}: a host switch does not restart it (restartIfChanged = false)" (
        (c.restartIfChanged or true) == false
      ) "the orchestrator restarts changed containers in graph order")
      (case "${name}: restartIfChanged is set through containers.${name}, not on the unit" (
        !(unit ? restartIfChanged)
      ) "nixos-containers defines the unit's restartIfChanged from the container's; a second definition conflicts")
      (case "${name}: starts after and wants what it depends on, without requires" (
        unit.after == depUnits && unit.wants == depUnits && !(unit ? requires)
      ) "Requires= restarts and stops it with a dependency, unchecked: ${show unit}")
      (case "${name}: its start is skipped while its profile has no system" (
        unit.unitConfig.ConditionPathExists == "/nix/var/nix/profiles/per-container/${name}/system"
      ) "a host switch starts machines.target before the profile is set: ${show unit}")
      (case "${name}: its start records the unit it started with" (
        builtins.match ".*unit_record ${name} /etc >/run/fleet/units/${name}.*" unit.postStart != null
      ) "units.sh compares that record with the host system after a switch: ${show unit}")
      (case "${name}: no start timeout of its own (the activation job bounds a switch)" (
        c.timeoutStartSec == "infinity"
      ) "nixos-containers' default 1min kills a container switch the job allows: ${show c}")
      (case "${name}: no container config evaluated on the host" (
        !(c ? config)
      ) "containers.${name}.config would rebuild the container with every host switch")
    ];
in
concatMap casesFor containers
