# mkContainer: one container node of nix/fleet.nix -> the host-side NixOS
# configuration that runs it. Plain data in, plain data out (no nixpkgs, no
# lib), so scripts/checks/mk-container-test.nix can evaluate it offline. The
# result is a module: nix/containers.nix merges one per container of the host.
#
# Invariant: every name in `node.dependsOn` is a container on the same host:
# systemd can only order units of one machine, so nix/containers.nix hands in
# only those (a dependency on another host's node is the orchestrator's to
# order; scripts/checks/fleet-test.nix checks the rest).
{
  name,
  node,
  hostNode,
}:
let
  paths = import ./paths.nix;
  unit = dep: "container@${dep}.service";
in
{
  containers.${name} = {
    autoStart = true;
    privateNetwork = true;
    hostBridge = hostNode.bridge.name;
    # With a bridge the prefix matters: without it the container gets a /32.
    localAddress = "${node.address}/${toString hostNode.bridge.prefixLength}";

    # A string, not a Nix path: it is resolved inside the container, where
    # nspawn binds the host's /nix/var/nix/profiles/per-container/NAME onto
    # /nix/var/nix/profiles. The orchestrator sets that profile, so a host
    # switch never rebuilds a container.
    path = "/nix/var/nix/profiles/system";

    # The unit embeds the store paths of systemd-nspawn, iproute2 and nix,
    # and restarts on its .conf: left at true, any nixpkgs bump would make a
    # host switch restart every container at once, out of graph order and
    # unchecked. The orchestrator restarts a container whose unit or .conf
    # changed, after the host's switch, in graph order and checked (README).
    # The module copies this into the unit; set on the unit itself it would
    # conflict with that definition.
    restartIfChanged = false;

    # nixos-containers' default is "1min", and a container's reload (its
    # `switch-to-configuration test`) runs under the unit's start timeout:
    # systemd would kill a longer switch that the activation job allows
    # (240 s, `--switch-timeout`). The job bounds every switch and cancels
    # the reload when its time is up, so the unit adds no bound of its own.
    timeoutStartSec = "infinity";
  };

  systemd.services."container@${name}" = {
    # Boot order follows the graph, as the orchestrator's activation waves
    # do: a container starts after the containers it depends on are up
    # (container@ units are Type=notify, so "up" means the inner systemd is
    # ready). `wants`, not `requires`: with Requires= a restart or stop of a
    # dependency restarts or stops this one too (systemd.unit(5)), unchecked
    # and out of the orchestrator's order; it restarts and checks each
    # container itself.
    wants = map unit node.dependsOn;
    after = map unit node.dependsOn;
    # A host switch starts machines.target, which wants every autoStart
    # container; a new container's profile is set only after the host's
    # switch, so its start would fail and fail the switch (exit 4). A start
    # skipped by a condition is no failure; the orchestrator starts it once
    # the profile is there.
    unitConfig.ConditionPathExists = "${paths.containerProfiles}/${name}/system";
    # What the unit started with, for the orchestrator to compare with the
    # host system after a switch, its own or one made without it (nh,
    # nixos-rebuild): a container still on an earlier unit is restarted.
    # The record's definition is shared with the orchestrator's units.sh.
    postStart = ''
      ${builtins.readFile ../crates/fleet-deploy/src/sh/unit-record.sh}
      mkdir -p /run/fleet/units
      unit_record ${name} /etc >/run/fleet/units/${name}
    '';
  };
}
