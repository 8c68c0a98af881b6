# One generated closure for the diff benchmark, from a JSON spec written by
# xtask's closure_pair.rs: builtins only, /bin/sh as the builder.
{ spec }:
let
  data = builtins.fromJSON (builtins.readFile spec);
  system = builtins.currentSystem;
  # Each output holds its dependencies' paths (so they are references) and
  # filler, so that sizes differ; extra outputs are smaller than `out`.
  # `deps` travels as a file: a toplevel's list is longer than one
  # environment variable may be.
  script = ''
    read -r deps < "$depsPath"
    for o in $outputs; do
      eval "f=\$$o"
      printf '%s\n' "$deps" > "$f"
      printf '%*s\n' "$size" "" >> "$f"
      size=$((size / 3))
    done
  '';
  mk = { name, outputs, deps, size }:
    builtins.derivation {
      inherit name system outputs deps;
      size = toString size;
      passAsFile = [ "deps" ];
      builder = "/bin/sh";
      args = [ "-c" script ];
    };
  packages = builtins.listToAttrs (map (p: {
    inherit (p) name;
    value = mk (p // { deps = map (d: packages.${d}) p.deps; });
  }) data.packages);
  everyOutput = builtins.concatMap (p: map (o: packages.${p.name}.${o}) p.outputs) data.packages;
in
mk {
  name = data.toplevel;
  outputs = [ "out" ];
  deps = everyOutput;
  size = 4096;
}
