# Checks on nix/fleet.nix that the NixOS side relies on. Pure Nix (builtins
# only): `nix eval --json --file` gives a list of { name; ok; detail; }, and
# the flake's checks assert that every case is ok. `fleet` can be given to
# test the checks themselves on a broken topology (scripts/checks/fleet.sh).
{
  fleet ? import ../../nix/fleet.nix,
}:
let
  inherit (builtins)
    all
    attrNames
    concatMap
    filter
    length
    elem
    ;

  case = name: ok: detail: { inherit name ok detail; };

  nodes = fleet.nodes;
  names = attrNames nodes;
  ofKind = kind: filter (n: nodes.${n}.kind == kind) names;
  hosts = ofKind "host";
  containers = ofKind "container";

  # "a.b.c.d" -> integer, or null when malformed.
  octets = addr: builtins.match "([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})" addr;
  toInt = s: builtins.fromJSON (if builtins.match "0[0-9]+" s != null then "-1" else s);
  ipToInt =
    addr:
    let
      o = octets addr;
      n = map toInt o;
    in
    if o == null || !(all (x: x >= 0 && x <= 255) n) then
      null
    else
      builtins.foldl' (acc: x: acc * 256 + x) 0 n;
  pow2 = k: if k == 0 then 1 else 2 * pow2 (k - 1);

  inSubnet =
    bridge: addr:
    let
      size = pow2 (32 - bridge.prefixLength);
      ip = ipToInt addr;
      net = ipToInt bridge.address;
    in
    ip != null
    && net != null
    && ip / size == net / size
    # neither the network nor the broadcast address
    && ip - ip / size * size != 0
    && ip - ip / size * size != size - 1;

  hostCases = concatMap (
    h:
    let
      node = nodes.${h};
      b = node.bridge or { };
    in
    [
      (case "host ${h} has system, target and bridge" (
        node ? system && node ? target && b ? name && b ? address && b ? prefixLength
      ) "needs system, target, bridge.{name,address,prefixLength}")
      (case "host ${h} bridge address is a valid IPv4 address" (
        (b.address or null) != null && ipToInt b.address != null
      ) (b.address or "missing"))
      (case "host ${h} bridge prefix is between 8 and 30" (
        builtins.isInt (b.prefixLength or null) && b.prefixLength >= 8 && b.prefixLength <= 30
      ) (toString (b.prefixLength or "missing")))
    ]
  ) hosts;

  containerCases = concatMap (
    c:
    let
      node = nodes.${c};
      host = nodes.${node.host} or null;
      deps = node.dependsOn or null;
    in
    [
      (case "container ${c} names an existing host" (
        host != null && host.kind == "host"
      ) "host = ${node.host or "missing"}")
      (case "container ${c} name has no underscore" (
        builtins.match ".*_.*" c == null
      ) "nixos-containers rejects underscores")
      (case "container ${c} address lies inside its host's bridge subnet" (
        host != null && host ? bridge && inSubnet host.bridge (node.address or "")
      ) "${node.address or "missing"}")
      (case "container ${c} dependsOn names other nodes, on its own host containers" (
        builtins.isList deps
        && all (
          d: d != c && nodes ? ${d} && ((nodes.${d}.host or d) != node.host || elem d containers)
        ) deps
      ) "the orchestrator orders nodes across hosts; on one host, mkContainer orders containers")
      (case "container ${c} http, if any, has a domain and a port" (
        !(node ? http)
        || (
          builtins.isString (node.http.domain or null)
          && builtins.isInt (node.http.port or null)
          && node.http.port > 0
          && node.http.port < 65536
        )
      ) "http = { domain; port; }")
    ]
  ) containers;

  # Bridge and container addresses, per host: no two equal.
  addressesOf =
    h:
    [ nodes.${h}.bridge.address or null ]
    ++ map (c: nodes.${c}.address or null) (filter (c: nodes.${c}.host or null == h) containers);
  unique =
    list:
    let
      go = seen: rest:
        if rest == [ ] then true
        else if elem (builtins.head rest) seen then false
        else go (seen ++ [ (builtins.head rest) ]) (builtins.tail rest);
    in
    go [ ] list;
  uniqueCases = map (
    h: case "host ${h}: container and bridge addresses are unique" (unique (addressesOf h)) (
      builtins.toJSON (addressesOf h)
    )
  ) hosts;

  domains = concatMap (c: if nodes.${c} ? http then [ nodes.${c}.http.domain ] else [ ]) containers;
in
[
  (case "fleet has at least one host" (length hosts > 0) "")
  (case "every node is a host or a container" (
    length hosts + length containers == length names
  ) "kind must be \"host\" or \"container\"")
  (case "public domains are unique" (unique domains) (builtins.toJSON domains))
]
++ hostCases
++ containerCases
++ uniqueCases
