# Evaluates what each node's own system takes from nix/fleet.nix, with
# builtins only (no nixpkgs): a host's network (nix/network.nix and
# nix/bridge.nix), a container's network (nix/container-network.nix) and the
# URLs of the HTTP services a container depends on (nix/dependency-urls.nix), for the real
# topology and for a made-up one whose names and addresses differ, so a value
# written into a module instead of taken from the graph shows.
# Returns a list of { name; ok; detail; } like fleet-test.nix.
{
  fleet ? import ../../nix/fleet.nix,
}:
let
  containerNetwork = import ../../nix/container-network.nix;
  dependencyUrls = import ../../nix/dependency-urls.nix;
  hostNetwork = import ../../nix/network.nix;
  hostBridge = import ../../nix/bridge.nix;
  inherit (builtins) attrNames concatMap filter;

  case = name: ok: detail: { inherit name ok detail; };
  show = builtins.toJSON;

  containersOf = f: filter (n: f.nodes.${n}.kind == "container") (attrNames f.nodes);
  hostsOf = f: filter (n: f.nodes.${n}.kind == "host") (attrNames f.nodes);

  # nix/network.nix needs only lib.mkDefault, which nixpkgs defines as
  # mkOverride 1000: this is that value, so the test can see it.
  mkDefault = content: {
    _type = "override";
    priority = 1000;
    inherit content;
  };

  hostNetworkCases =
    label: f: name:
    let
      bridge = f.nodes.${name}.bridge;
      out = hostNetwork {
        lib = { inherit mkDefault; };
      };
      bridged = hostBridge {
        fleet = f;
        nodeName = name;
      };
      net = bridged.systemd.network;
    in
    [
      (case "${label}${name}: useNetworkd and useDHCP are defaults a host may override" (
        out.networking.useNetworkd == mkDefault true && out.networking.useDHCP == mkDefault false
      ) (show { inherit (out.networking) useNetworkd useDHCP; }))
      (case "${label}${name}: the bridge is ${bridge.name} with ${bridge.address}/${toString bridge.prefixLength}" (
        net.netdevs."20-${bridge.name}".netdevConfig.Name == bridge.name
        && net.networks."20-${bridge.name}".address == [ "${bridge.address}/${toString bridge.prefixLength}" ]
      ) (show net.networks))
      (case "${label}${name}: NAT from the bridge" (
        bridged.networking.nat.internalInterfaces == [ bridge.name ]
      ) (show bridged.networking.nat))
      (case "${label}${name}: networkd runs, for the bridge" (bridged.systemd.network.enable == true) (
        show (bridged.systemd.network.enable or null)
      ))
    ];

  networkCases =
    label: f: name:
    let
      node = f.nodes.${name};
      bridge = f.nodes.${node.host}.bridge;
      out = containerNetwork {
        inherit node;
        hostNode = f.nodes.${node.host};
      };
      eth0 = out.networking.interfaces.eth0 or { };
    in
    [
      (case "${label}${name}: declares only eth0 and the default gateway" (
        attrNames out == [ "networking" ]
        && attrNames out.networking == [
          "defaultGateway"
          "interfaces"
        ]
        && attrNames out.networking.interfaces == [ "eth0" ]
      ) (show out))
      (case "${label}${name}: eth0 carries its address with the bridge prefix" (
        eth0.ipv4.addresses or null == [
          {
            inherit (node) address;
            inherit (bridge) prefixLength;
          }
        ]
      ) (show eth0))
      (case "${label}${name}: default gateway is the bridge address, on eth0" (
        out.networking.defaultGateway == {
          inherit (bridge) address;
          interface = "eth0";
        }
      ) (show out.networking.defaultGateway))
    ];

  urlCases =
    label: f: name:
    let
      node = f.nodes.${name};
      withHttp = filter (d: f.nodes.${d} ? http) node.dependsOn;
      urls = dependencyUrls {
        fleet = f;
        nodeName = name;
      };
    in
    [
      (case "${label}${name}: a URL for each dependency with http, and no other" (
        attrNames urls == builtins.sort builtins.lessThan withHttp
        && builtins.all (
          d: urls.${d} == "http://${f.nodes.${d}.address}:${toString f.nodes.${d}.http.port}"
        ) withHttp
      ) (show urls))
    ];

  # Another topology: other names, bridge, prefix and port. (Its node records
  # look like nix/fleet.nix's and like each other by design: they are data.)
  madeUp = {
    nodes = {
      edge = {
        kind = "host";
        system = "x86_64-linux";
        target = "root@edge";
        bridge = {
          name = "lan0";
          address = "172.20.0.1";
          prefixLength = 16;
        };
      };
      index = {
        kind = "container";
        host = "edge";
        address = "172.20.3.4";
        dependsOn = [ ];
        http = {
          domain = "index.example.net";
          port = 8088;
        };
      };
      cache = {
        kind = "container";
        host = "edge";
        address = "172.20.3.5";
        dependsOn = [ ];
      };
      chat = {
        kind = "container";
        host = "edge";
        address = "172.20.3.6";
        dependsOn = [
          "cache"
          "index"
        ];
      };
    };
  };
in
concatMap (n: hostNetworkCases "" fleet n) (hostsOf fleet)
++ concatMap (n: hostNetworkCases "made-up " madeUp n) (hostsOf madeUp)
++ concatMap (n: networkCases "" fleet n ++ urlCases "" fleet n) (containersOf fleet)
++ concatMap (n: networkCases "made-up " madeUp n) (containersOf madeUp)
++ [
  (case "made-up chat: the URL of its http dependency, taken from the graph" (
    dependencyUrls {
      fleet = madeUp;
      nodeName = "chat";
    } == { index = "http://172.20.3.4:8088"; }
  ) "")
  (case "made-up index: no dependencies, no URLs" (
    dependencyUrls {
      fleet = madeUp;
      nodeName = "index";
    } == { }
  ) "")
]
