# The graph: every host and container, where each runs and what it depends
# on. Pure data (no nixpkgs), read by `fleet` and by flake.nix. README.md of
# fleet, "The graph: nix/fleet.nix", lists every field.
{
  nodes = {
    my-host = {
      kind = "host";
      system = "x86_64-linux";
      # Where `fleet deploy` connects to (USER@HOST[:PORT]); `--target` overrides it.
      target = "root@my-host.example.org";
      bridge = {
        name = "br0";
        address = "10.233.0.1";
        prefixLength = 24;
      };
    };

    web = {
      kind = "container";
      host = "my-host";
      address = "10.233.0.10";
      dependsOn = [ ];
    };
  };
}
